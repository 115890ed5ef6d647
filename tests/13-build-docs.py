"""The build installs what the README promises, and docs/configuration.md
documents every key the schema (common/config-schema.c) accepts."""

import os
import re
import subprocess

from conftest import BUILD_DIR

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def schema_keys():
    src = open(os.path.join(TOP, 'common', 'config-schema.c')).read()
    keys = re.findall(r'\{"(\w+)",\s*"(\w+)",\s*CONFIG_', src)
    assert len(keys) >= 10
    return keys


def test_every_schema_key_is_documented():
    doc = open(os.path.join(TOP, 'docs', 'configuration.md')).read()
    sections = {}
    current = None
    for line in doc.splitlines():
        m = re.match(r'## \[(\w+)[^\]]*\]', line)
        if m:
            current = m.group(1)
            sections[current] = set()
        m = re.match(r'\| `(\w+)` \|', line)
        if m and current:
            sections[current].add(m.group(1))
    missing = [(s, k) for s, k in schema_keys() if k not in sections.get(s, set())]
    assert not missing, 'undocumented keys: %s' % missing


def test_make_install_destdir(tmp_path):
    dest = tmp_path / 'dest'
    r = subprocess.run(['make', '-C', BUILD_DIR, '-s', 'install', 'DESTDIR=%s' % dest],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    prefix = subprocess.run(['sed', '-n', 's/^prefix = //p', os.path.join(BUILD_DIR, 'Makefile')],
                            capture_output=True, text=True).stdout.strip()
    root = str(dest) + prefix
    for prog in ('junction-router', 'junctionctl'):
        assert os.access(os.path.join(root, 'sbin', prog), os.X_OK), prog
    assert os.path.isfile(os.path.join(root, 'etc', 'junction', 'junction.conf.example'))
    # systemd units, with this build's paths, that systemd itself accepts.
    units = os.path.join(root, 'lib', 'systemd', 'system')
    names = sorted(os.listdir(units))
    assert 'junction.target' in names and 'junction-sm.service' in names, names
    sm_unit = open(os.path.join(units, 'junction-sm.service')).read()
    assert 'ExecStart=%s/sbin/junction-sm -c %s/etc/junction/junction.conf' % (prefix, prefix) \
        in sm_unit, sm_unit
    assert 'ExecReload=/bin/kill -HUP $MAINPID' in sm_unit
    wanted = open(os.path.join(units, 'junction.target')).read()
    for n in names:
        if n.endswith('.service') and '@.' not in n:
            assert n in wanted, '%s not in junction.target' % n
    # The template for further sm instances, started by name.
    assert 'junction-sm@.service' in names, names
    sm2_unit = open(os.path.join(units, 'junction-sm@.service')).read()
    assert '/sbin/junction-sm -c %s/etc/junction/junction.conf -n %%i' % prefix in sm2_unit
    # systemd-analyze checks ExecStart's program exists: point the copies it
    # verifies at this build's programs.
    check = tmp_path / 'units'
    check.mkdir()
    for n in names:
        text = open(os.path.join(units, n)).read()
        text = text.replace(os.path.join(prefix, 'sbin'), BUILD_DIR)
        # A template is verified as one of its instances.
        (check / n.replace('@.', '@sm2.localhost.')).write_text(text)
    r = subprocess.run(['systemd-analyze', 'verify'] +
                       [str(check / n.replace('@.', '@sm2.localhost.')) for n in names],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_example_config_is_valid(tmp_path):
    r = subprocess.run([os.path.join(BUILD_DIR, 'junctionctl'), '-c',
                        os.path.join(TOP, 'etc', 'junction.conf.example'), 'check'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
