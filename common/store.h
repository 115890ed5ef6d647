/* common/store.h: placeholder until its module lands. */
