"""Text-to-speech adapter: espeak-ng for the voice, sox for the telephone format."""
