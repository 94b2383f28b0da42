"""Supply chain: what an image is made of, where it came from, and who vouches for it."""
