"""GenAI media toward OpenAI-format providers: ``responseModalities`` IMAGE/AUDIO and Imagen
``:predict`` mapped onto ``/images/generations`` and ``/audio/speech`` (``translate.py`` pure,
``service.py`` the calls)."""

from .service import GenAIMedia
from .translate import MODALITIES

__all__ = ["MODALITIES", "GenAIMedia"]
