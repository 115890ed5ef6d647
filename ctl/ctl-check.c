/* ctl-check.c: `junctionctl check`. config_load() already validated every
 * key against the schema; this prints what the deployment will run with. */
#include <stdio.h>

#include "config.h"
#include "ctl.h"

int ctl_check(const struct config *config)
{
	size_t n_domains;
	const char *const *domains = config_get_list(config, "junction", "domains", &n_domains);
	size_t n_components = 0;

	while (config_component_name(config, n_components) != NULL)
		n_components++;
	printf("%s: ok\n", config_path(config));
	printf("domains:");
	for (size_t i = 0; i < n_domains; i++)
		printf(" %s", domains[i]);
	printf("\nrouter listens on %s", config_get(config, "router", "listen"));
	if (config_get(config, "router", "listen_unix") != NULL)
		printf(" and %s", config_get(config, "router", "listen_unix"));
	printf("\nthird-party components: %zu\n", n_components);
	return 0;
}
