"""The optional payload codec: AES-GCM over every Temporal payload, keys by ID (docs/codec.md).

Below gastown.config in the layers: config builds the data converter from it, and the service
(worker, watcher, codec server) and the CLI use what config built. Workflows never import it.
"""

from gastown.codec.aesgcm import (
    ENCODING,
    KEY_ID_METADATA,
    AESGCMCodec,
    CodecKeyError,
    UnknownKeyID,
    load_key_file,
    parse_key_file,
)

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "AESGCMCodec",
    "CodecKeyError",
    "UnknownKeyID",
    "load_key_file",
    "parse_key_file",
]
