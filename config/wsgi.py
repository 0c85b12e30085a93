import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Each gunicorn worker loads the URLconf and the modules' warm-ups (the AI SDK) before it serves, so
# no learner's request pays them (modules/common/warmup.py).
from modules.common.warmup import warm_up  # noqa: E402 - needs the settings configured above

warm_up(urls=True)
