"""The listener's tag names (lower case; a tag both networks know is listed once), for settings to
name: the MagnaTagATune model's 50 (instruments, voices, energy), then the Million Song Dataset
model's that it lacks (genres, decades, moods). tests/listen/test_listener.py checks them
against the bundled weights. Also the picture qualities attribute settings can name."""

TAGS = (
    'guitar', 'classical', 'slow', 'techno', 'strings', 'drums', 'electronic', 'rock', 'fast', 'piano',
    'ambient', 'beat', 'violin', 'vocal', 'synth', 'female', 'indian', 'opera', 'male', 'singing', 'vocals',
    'no vocals', 'harpsichord', 'loud', 'quiet', 'flute', 'woman', 'male vocal', 'no vocal', 'pop', 'soft',
    'sitar', 'solo', 'man', 'classic', 'choir', 'voice', 'new age', 'dance', 'male voice', 'female vocal',
    'beats', 'harp', 'cello', 'no voice', 'weird', 'country', 'metal', 'female voice', 'choral', 'alternative',
    'indie', 'female vocalists', '00s', 'alternative rock', 'jazz', 'beautiful', 'chillout', 'male vocalists',
    'classic rock', 'soul', 'indie rock', 'mellow', 'electronica', '80s', 'folk', '90s', 'chill', 'instrumental',
    'punk', 'oldies', 'blues', 'hard rock', 'acoustic', 'experimental', 'female vocalist', 'hip-hop', '70s',
    'party', 'easy listening', 'sexy', 'catchy', 'funk', 'electro', 'heavy metal', 'progressive rock', '60s',
    'rnb', 'indie pop', 'sad', 'house', 'happy',
)

# Picture quality name -> (what visualizer.listen.picture measures, sign). Each pair is one direction, both ways.
QUALITIES = {
    "bright": ("brightness", 1.0), "dark": ("brightness", -1.0),
    "warm": ("warmth", 1.0), "cool": ("warmth", -1.0),
    "vivid": ("colourfulness", 1.0), "muted": ("colourfulness", -1.0),
    "busy": ("busyness", 1.0), "calm": ("busyness", -1.0),
}
