/* pubsub-caps-ver.c: the XEP-0115 (section 5) verification string of a
 * disco#info answer, and the check of a sha-1 ver against it, so that a
 * client cannot make pubsub believe a ver means features it does not.
 */
#include "pubsub-caps-ver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "digest.h"
#include "scram.h"
#include "stanza.h"

/* xml:lang as the parser names it (namespace URI, space, local name). */
#define PUBSUB_CAPS_VER_XML_LANG "http://www.w3.org/XML/1998/namespace lang"

void pubsub_caps_ver_strs_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int pubsub_caps_ver_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The values of a form field, sorted. */
static char **pubsub_caps_ver_values(const struct stanza *field, size_t *n_r)
{
	char **v = NULL;
	size_t n = 0;

	for (size_t i = 0; i < field->n_children; i++) {
		const struct stanza *e = field->children[i].element;
		if (e == NULL || strcmp(e->name, "value") != 0)
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = stanza_text(e);
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), pubsub_caps_ver_strcmp);
	*n_r = n;
	return v;
}

/* One extended-information form's part of S (XEP-0115 5.1 step 7):
 * FORM_TYPE, then each field by var with its sorted values. Sorted by
 * FORM_TYPE with the other forms afterwards. */
static char *pubsub_caps_ver_form(const struct stanza *x)
{
	struct buf out = {0}, type = {0};
	char **fields = NULL;
	size_t n_fields = 0;

	for (size_t i = 0; i < x->n_children; i++) {
		const struct stanza *f = x->children[i].element;
		const char *var = f != NULL ? stanza_get_attr(f, "var") : NULL;
		struct buf one = {0};
		char **values;
		size_t n;
		if (var == NULL || strcmp(f->name, "field") != 0)
			continue;
		values = pubsub_caps_ver_values(f, &n);
		if (strcmp(var, "FORM_TYPE") == 0) {
			buf_printf(&type, "%s<", n > 0 ? values[0] : "");
		} else {
			buf_printf(&one, "%s<", var);
			for (size_t j = 0; j < n; j++)
				buf_printf(&one, "%s<", values[j]);
			fields = xrealloc(fields, (n_fields + 1) * sizeof(*fields));
			fields[n_fields++] = buf_steal(&one);
		}
		pubsub_caps_ver_strs_free(values, n);
		buf_free(&one);
	}
	if (n_fields > 1)
		qsort(fields, n_fields, sizeof(*fields), pubsub_caps_ver_strcmp);
	buf_printf(&out, "%s", type.data != NULL ? type.data : "");
	for (size_t i = 0; i < n_fields; i++)
		buf_printf(&out, "%s", fields[i]);
	pubsub_caps_ver_strs_free(fields, n_fields);
	buf_free(&type);
	return buf_steal(&out);
}

char *pubsub_caps_ver_string(const struct stanza *query, char ***features_r, size_t *n_r)
{
	char **ids = NULL, **feats = NULL, **forms = NULL;
	size_t n_ids = 0, n_feats = 0, n_forms = 0;
	struct buf s = {0};

	for (size_t i = 0; i < query->n_children; i++) {
		const struct stanza *e = query->children[i].element;
		struct buf one = {0};
		if (e == NULL)
			continue;
		if (strcmp(e->name, "identity") == 0) {
			const char *lang = stanza_get_attr(e, PUBSUB_CAPS_VER_XML_LANG);
			const char *name = stanza_get_attr(e, "name");
			buf_printf(&one, "%s/%s/%s/%s<",
				   stanza_get_attr(e, "category") ? stanza_get_attr(e, "category") : "",
				   stanza_get_attr(e, "type") ? stanza_get_attr(e, "type") : "",
				   lang != NULL ? lang : "", name != NULL ? name : "");
			ids = xrealloc(ids, (n_ids + 1) * sizeof(*ids));
			ids[n_ids++] = buf_steal(&one);
		} else if (strcmp(e->name, "feature") == 0 && stanza_get_attr(e, "var") != NULL) {
			feats = xrealloc(feats, (n_feats + 1) * sizeof(*feats));
			feats[n_feats++] = xstrdup(stanza_get_attr(e, "var"));
		} else if (strcmp(e->name, "x") == 0 && strcmp(e->ns, "jabber:x:data") == 0) {
			forms = xrealloc(forms, (n_forms + 1) * sizeof(*forms));
			forms[n_forms++] = pubsub_caps_ver_form(e);
		}
		buf_free(&one);
	}
	if (n_ids > 1)
		qsort(ids, n_ids, sizeof(*ids), pubsub_caps_ver_strcmp);
	if (n_feats > 1)
		qsort(feats, n_feats, sizeof(*feats), pubsub_caps_ver_strcmp);
	if (n_forms > 1)
		qsort(forms, n_forms, sizeof(*forms), pubsub_caps_ver_strcmp);
	for (size_t i = 0; i < n_ids; i++)
		buf_printf(&s, "%s", ids[i]);
	for (size_t i = 0; i < n_feats; i++)
		buf_printf(&s, "%s<", feats[i]);
	for (size_t i = 0; i < n_forms; i++)
		buf_printf(&s, "%s", forms[i]);
	pubsub_caps_ver_strs_free(ids, n_ids);
	pubsub_caps_ver_strs_free(forms, n_forms);
	*features_r = feats;
	*n_r = n_feats;
	return buf_steal(&s);
}

bool pubsub_caps_ver_check(const char *s, const char *ver)
{
	char hex[DIGEST_SHA1_HEX_LEN + 1];
	unsigned char md[DIGEST_SHA1_HEX_LEN / 2];
	char *b64;
	bool ok;

	digest_sha1_hex2(s, "", hex);
	for (size_t i = 0; i < sizeof(md); i++) {
		unsigned int byte;
		sscanf(hex + 2 * i, "%2x", &byte);
		md[i] = (unsigned char)byte;
	}
	b64 = scram_base64_encode(md, sizeof(md));
	ok = strcmp(b64, ver) == 0;
	free(b64);
	return ok;
}

