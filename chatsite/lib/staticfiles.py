"""Static files storage: hashed names for ES module imports too."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    # chat.js imports ./js/*.js: rewrite those imports to the hashed names, so a browser
    # never mixes modules from two deploys.
    support_js_module_import_aggregation = True
