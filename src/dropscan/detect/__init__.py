"""Lines in, findings out: decoding, the prefilter, signatures, matching and destinations."""
