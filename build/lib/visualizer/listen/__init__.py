"""Listening: a music-tagging network hears the last seconds of sound, and a learned map turns what
it heard into a place in a generator's latent space."""
