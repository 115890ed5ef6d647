/* c2s/c2s-sasl.h: placeholder until its module lands. */
