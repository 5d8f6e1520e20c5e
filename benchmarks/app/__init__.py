"""The benchmark's models (app label ``bench``)."""
