#!/bin/sh
# Packs the order service into OrderServer.jar (a zip; a real service would run maven here).
set -e
rm -f OrderServer.jar
python3 -c "import zipfile; z = zipfile.ZipFile('OrderServer.jar', 'w'); z.write('Main.java'); z.close()"
