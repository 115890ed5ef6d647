/* ctl/ctl-users.c: placeholder until its module lands. */
