"""TARS interface files (.tars): parse them, compare two versions, and find who serves and who calls what."""
