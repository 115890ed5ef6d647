/* ctl-vcard.c: `junctionctl vcard-get JID`, the vCard (XEP-0054) an
 * account stored, printed as sm keeps it: one <vCard xmlns='vcard-temp'>
 * element and a line end. Like the account commands (ctl-users.c) it
 * reads sm's store file directly, whether sm runs or not.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "store.h"

int ctl_vcard_get(const struct config *config, const char *text)
{
	struct store *store = NULL;
	char *jid = ctl_users_account(config, text), *xml = NULL;
	size_t len = 0;
	int ret = 1, r;

	if (jid == NULL || (store = ctl_users_open(config)) == NULL)
		goto out;
	if ((r = store_account_exists(store, jid)) != STORE_OK) {
		ctl_users_fail(store, r, jid);
		goto out;
	}
	r = store_vcard_get(store, jid, &xml, &len, NULL);
	if (r == STORE_ERR_NOT_FOUND)
		fprintf(stderr, "junctionctl: %s has no vCard\n", jid);
	else if (r != STORE_OK)
		ctl_users_fail(store, r, jid);
	else if (fwrite(xml, 1, len, stdout) == len && putchar('\n') != EOF && fflush(stdout) == 0)
		ret = 0;
out:
	free(xml);
	free(jid);
	store_close(&store);
	return ret;
}
