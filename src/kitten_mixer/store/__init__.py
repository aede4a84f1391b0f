"""The kitten store: visitors' kept kittens, each a latent code, its family, its gene edits
and the picture the page showed (never a photo), in SQLite with no set-up or in PostgreSQL
by URL. See docs/store.md.

    store = KittenStore.open()                       # SQLite in ~/.local/share/kitten-mixer
    store = KittenStore.open("postgresql+psycopg://kittens@db/kittens")
    kitten = store.keep(token, code, [Parent("gallery", "7078", 0.6), ...], {}, model, png)
    store.get(kitten.id)
"""

from kitten_mixer.store.engine import DATA_ENV, DB_ENV
from kitten_mixer.store.errors import RateLimited, StoreDown, StoreError, StoreFull
from kitten_mixer.store.kittens import KittenStore
from kitten_mixer.store.records import Kitten, Parent
from kitten_mixer.store.schema import SCHEMA_VERSION

__all__ = ["DATA_ENV", "DB_ENV", "SCHEMA_VERSION", "Kitten", "KittenStore", "Parent",
           "RateLimited", "StoreDown", "StoreError", "StoreFull"]
