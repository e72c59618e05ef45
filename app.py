"""Start the web chat and the HTTP API on one port.

    python app.py            # http://127.0.0.1:7860 (GRADIO_SERVER_PORT to change)

Settings come from ``QA_*`` variables (see qa/settings.py): ``QA_HOST`` to
listen elsewhere than 127.0.0.1 (then ``QA_AUTH="user:password"`` is required,
and ``QA_API_KEY`` for the API), ``QA_MAX_UPLOAD_MB`` for the upload limit,
``QA_LOAD_SAMPLES=false`` to skip indexing the sample articles into an empty
store. Everything else lives in the ``web`` package; this file only puts
Gradio's upload/cache folder inside the data dir, which Gradio reads when it is
imported, and starts the server. ``python -m web.api`` serves the API alone.
"""

import os

from qa.settings import get_settings

_settings = get_settings()
os.environ["GRADIO_TEMP_DIR"] = str((_settings.data_dir / "gradio-tmp").resolve())
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from web.server import main  # noqa: E402  (imports gradio, after its temp dir is set)

if __name__ == "__main__":
    main()
