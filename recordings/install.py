"""Recordings' entry into the controller: the whole-call recorder (started by the voice
menu at answer, told when a call's record closes), its store, retention and API."""

from __future__ import annotations

import datetime as dt
import logging

from acd.install import IDENTIFY
from hotline.wiring import BackgroundTask, Feature, Key, Wiring
from recordings import cli
from recordings.http import RecordingsApi, openapi_paths
from recordings.index import RecordingIndex
from recordings.messages import VoiceMessages
from recordings.recorder import Recorder
from recordings.retention import PurgeResult, purge

log = logging.getLogger(__name__)

RECORDER = Key[Recorder]("recorder")
VOICE_MESSAGES = Key[VoiceMessages]("voice-messages")


def install(wiring: Wiring) -> None:
    config = wiring.config
    index = RecordingIndex(wiring.engine, wiring.writes)

    async def purge_recordings() -> PurgeResult:
        result = await purge(
            index,
            config.recordings_store,
            config.recordings.retention_days,
            dt.datetime.now(dt.UTC),
            dry_run=False,
        )
        if result.calls:
            log.info("purged %d recordings past retention", len(result.calls))
        return result

    recorder = Recorder(
        wiring.ari,
        index,
        wiring.calls,
        config.recordings,
        config.recordings_store,
        purge=purge_recordings,
    )
    wiring.provide(RECORDER, recorder)
    wiring.provide(VOICE_MESSAGES, VoiceMessages(wiring.engine, wiring.writes))
    wiring.call_closed.append(recorder.call_ended)
    api = RecordingsApi(index, config.recordings_store, wiring.need(IDENTIFY))
    wiring.routes.append(api.routes)
    wiring.openapi.update(openapi_paths())
    wiring.tasks.append(BackgroundTask("recorder", recorder.run))


FEATURE = Feature("recordings", install=install, commands=cli.add_commands)
