/* common/db.h: placeholder until its module lands. */
