"""Small stand-ins for what the tests do not measure: a narrow network for tests of mechanics (what is
written, loaded, refused), and a digit classifier trained on a few digits for tests that only need the
content measure to run."""

NARROW = {"encoder_channels": [8, 8, 8, 8], "decoder_channels": [16, 8, 8, 8], "shared_dim": 8, "shared_hidden": 16}

SMALL_CLASSIFIER = {"per_class": 60, "epochs": 4}  # about 1.5 s at 32 px; the real one: 450 a class, 5 epochs
