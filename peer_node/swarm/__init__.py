"""Everything that moves pieces: picker (pure), peer connection, download engine, piece server, piece storage."""
