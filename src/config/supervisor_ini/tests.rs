//! Unit tests of the INI reader, expansions, values and translation.
