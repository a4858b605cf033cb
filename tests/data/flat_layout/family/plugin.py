"""This family as a codec: bench run --plugin <this file> --codec tiny-flat"""

from pathlib import Path

from bench.neural.codec import make_family_codec

FamilyCodec = make_family_codec(Path(__file__).parent, name="tiny-flat")
