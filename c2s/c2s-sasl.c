/* c2s/c2s-sasl.c: placeholder until its module lands. */
