/* common/store-sqlite.c: placeholder until its module lands. */
