/* common/scram.c: placeholder until its module lands. */
