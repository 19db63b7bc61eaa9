"""ElevenLabs text to speech (OPERATIONS.md 5.3): synchronous, `xi-api-key`, the audio bytes in the answer.
The SDK's option names (camelCase) become the API's fields; the voice goes in the path, the format in the query."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from execution_api.engine.executors import JobFailed
from execution_api.providers.transport import Transport

DEFAULT_BASE_URL = "https://api.elevenlabs.io"
DEFAULT_FORMAT = "mp3_44100_128"
_VOICE_SETTINGS = {"stability": "stability", "similarityBoost": "similarity_boost", "style": "style",
                   "useSpeakerBoost": "use_speaker_boost"}  # fmt: skip
_TOP_LEVEL = {"languageCode": "language_code", "previousText": "previous_text", "nextText": "next_text"}


_CODECS = {
    "mp3": ("audio/mpeg", "mp3"),
    "pcm": ("audio/L16", "pcm"),
    "ulaw": ("audio/basic", "ulaw"),
    "opus": ("audio/opus", "opus"),
    "wav": ("audio/wav", "wav"),
}


def mime_type(output_format: str) -> tuple[str, str]:
    """(mime type, extension) of an output_format `codec_samplerate[_bitrate]`."""
    codec = output_format.split("_", 1)[0]
    return _CODECS.get(codec, ("application/octet-stream", "bin"))


@dataclass
class ElevenLabsClient:
    transport: Transport
    base_url: str = DEFAULT_BASE_URL
    name: str = "elevenlabs"

    def speak(self, model: str, params: Mapping[str, Any]) -> tuple[bytes, str, str]:
        """(audio bytes, mime type, extension) of the text in params, in the voice params.voiceId."""
        text, voice = params.get("text"), params.get("voiceId") or params.get("voice_id")
        if not isinstance(text, str) or not text.strip():
            raise JobFailed("generateAudio on elevenlabs needs params.text, the words to speak")
        if not isinstance(voice, str) or not voice:
            raise JobFailed("generateAudio on elevenlabs needs params.voiceId, the voice to speak with")
        output_format = str(params.get("outputFormat") or params.get("output_format") or DEFAULT_FORMAT)
        body: dict[str, Any] = {"text": text, "model_id": model}
        settings = {api: params[ours] for ours, api in _VOICE_SETTINGS.items() if params.get(ours) is not None}
        if settings:
            body["voice_settings"] = settings
        body |= {api: params[ours] for ours, api in _TOP_LEVEL.items() if params.get(ours) is not None}
        url = f"{self.base_url}/v1/text-to-speech/{quote(voice, safe='')}?{urlencode({'output_format': output_format})}"
        headers = {"xi-api-key": self.transport.key, "Content-Type": "application/json", "Accept": "audio/*"}
        reply = self.transport.call("POST", url, headers, json.dumps(body).encode(), create=True)
        if not reply.body:
            raise JobFailed("elevenlabs answered with no audio", retryable=True)
        mime, extension = mime_type(output_format)
        return reply.body, mime, extension
