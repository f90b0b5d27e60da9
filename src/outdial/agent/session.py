"""The agent session: one answered call's conversation, wired from small parts.

Audio frames in → VAD → :class:`TurnDetector` (turns, barge-in) → :class:`Recognizer` (STT) →
brain → :class:`Playback` (TTS out, what was heard) → audio port. The session only routes events
between those parts and keeps the call's books: transcript, outcome, recording, latency, end.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from outdial.agent.audio import Resampler, leading_silence, resample_all
from outdial.agent.brains.intents import GREETINGS
from outdial.agent.brains.templating import make_scope, render
from outdial.agent.endpointing import Endpoint, EnergyGate, SpeechStart, TurnDetector
from outdial.agent.humanspeech import HumanSpeechDetector
from outdial.agent.latency import TurnTimer
from outdial.agent.playback import Playback
from outdial.agent.port import AudioPort
from outdial.agent.protocols import (
    STT,
    TTS,
    VAD,
    Action,
    Brain,
    BrainEvent,
    CallStarted,
    DtmfReceived,
    EndCall,
    OptOut,
    Say,
    SendDtmf,
    SetOutcome,
    Silence,
    Transfer,
    Turn,
    UserSaid,
)
from outdial.agent.recognition import Recognizer
from outdial.agent.recording import StereoRecorder
from outdial.agent.result import SessionResult
from outdial.agent.settings import AgentConfig
from outdial.agent.silence import SilenceTimer
from outdial.agent.transcript import Transcript
from outdial.agent.voicemail import Step, VoicemailWatch
from outdial.lifecycle import EndReason

log = logging.getLogger(__name__)

Hangup = Callable[[EndReason], Awaitable[None] | None]
# Transfers the call to a number or SIP URI; returns None once done, or why it could not be done.
TransferTo = Callable[[str], Awaitable[str | None]]

_T = TypeVar("_T")
_DRAIN_GRACE_S = 2.0  # beyond the audio still queued, how long an ending waits for it to play out
_APOLOGY = "I'm sorry, I'm having technical difficulties."
_TRANSFER_APOLOGY = "I'm sorry, I could not transfer your call."
_END_REASONS = {r.value: r for r in EndReason}


class AgentSession:
    def __init__(
        self,
        agent: AgentConfig,
        port: AudioPort,
        *,
        brain: Brain,
        vad: VAD,
        stt: STT,
        tts: TTS,
        hangup: Hangup | None = None,
        transfer: TransferTo | None = None,
        recording_path: Path | None = None,
        variables: Mapping[str, Any] | None = None,
        call_context: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        on_turn: Callable[[Turn], None] | None = None,
    ) -> None:
        self.agent = agent
        self._port = port
        self._brain = brain
        self._vad = vad
        self._tts = tts
        self._hangup = hangup
        self._transfer = transfer
        tt = agent.turn_taking
        self._detector = TurnDetector(
            threshold=tt.vad_threshold,
            speech_start_ms=tt.speech_start_ms,
            hangover_ms=tt.endpoint_hangover_ms,
            early_ms=tt.early_endpoint_ms,
        )
        self._recognizer = Recognizer(
            stt,
            sample_rate=port.sample_rate,
            language=agent.language,
            on_complete_answer=self._detector.set_answer_complete,
        )
        self._vad_resampler = Resampler(port.sample_rate, vad.sample_rate, quality="QQ")
        self._gate = EnergyGate()
        self._human = HumanSpeechDetector(port.sample_rate)  # max_hold: a person, not hold music
        self._playback = Playback(port, self._now)
        self._transcript = Transcript(on_add=on_turn)  # on_turn: e.g. transcript.updated events
        self._silence = SilenceTimer(agent.silence_timeout_seconds, self._on_silence)
        self._recorder = StereoRecorder(recording_path, port.sample_rate) if recording_path else None
        scope = make_scope(variables, call_context, metadata)
        self._first_message = render(agent.first_message, scope)
        self._voicemail_message = render(agent.voicemail_message, scope) if agent.voicemail_message else ""
        self._voicemail = VoicemailWatch(port.sample_rate) if agent.answering_machine_detection else None
        self._leaving_message = False  # a machine answered: the agent waits for the beep, then speaks
        self._first_pcm: bytes | None = None
        self._prepare_task: asyncio.Task[None] | None = None

        self._t0 = 0.0
        self._frames_in = 0  # inbound frames so far: the recording's clock
        self._answered_at: datetime | None = None
        self._greeted = False
        self._greeting_timer: asyncio.TimerHandle | None = None
        self._max_duration_timer: asyncio.TimerHandle | None = None
        self._user_over_agent = False  # the open turn began while the agent was talking
        self._speech_start_ms = 0.0
        self._response: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: list[TurnTimer] = []
        self._first_audio_ms: float | None = None
        self._human_speech_ms: float | None = None
        self.outcome: dict[str, Any] = {}
        self._opt_out = False
        self._transfer_to: str | None = None
        self._transferring = False
        self._ending = False
        self._done = asyncio.Event()
        self._result: SessionResult | None = None

    # -- clock -----------------------------------------------------------------------------
    def _now(self) -> float:
        """Milliseconds since the call was answered."""
        return (time.monotonic() - self._t0) * 1000.0

    # -- lifecycle ---------------------------------------------------------------------------
    async def prepare(self) -> None:
        """Synthesize the first message while the phone rings, so it plays the frame after answer."""
        if self._first_pcm is None and self._first_message:
            chunks = [c async for c in self._tts.synthesize(self._first_message)]
            pcm = resample_all(b"".join(chunks), self._tts.sample_rate, self._port.sample_rate)
            self._first_pcm = pcm[leading_silence(pcm) :]  # the first frame carries the first word

    def start(self) -> None:
        """The call was answered: attach to the audio and, for agent_first, speak at once."""
        self._t0 = time.monotonic()
        self._answered_at = datetime.now(UTC)
        self._playback.on_first_sent = self._note_first_audio
        self._port.set_sent_handler(self._guarded(self._on_sent))
        self._port.set_audio_handler(self._guarded(self._on_audio))
        self._port.set_dtmf_handler(self._guarded(self._on_dtmf))
        loop = asyncio.get_running_loop()
        self._max_duration_timer = loop.call_later(self.agent.max_duration_seconds, self._on_max_duration)
        if self.agent.speak_order == "agent_first":
            self._greet(None)
        else:
            timeout = self.agent.turn_taking.user_first_greeting_timeout_ms / 1000
            self._greeting_timer = loop.call_later(timeout, self._greet_after_timeout)

    async def wait(self) -> SessionResult:
        """Until the call is over (by the agent, a timer, or :meth:`stop`); its result."""
        await self._done.wait()
        assert self._result is not None
        return self._result

    async def stop(self, reason: EndReason | str = EndReason.CALLEE_HANGUP) -> SessionResult:
        """The call ended outside the agent (callee hung up, max hold, cancel): close the books.

        A callee who hangs up while a transfer is in flight has gone to the target (RFC 5589 §6:
        the transferee ends the original call once its new one is up): ``transferred``.
        """
        reason = EndReason(reason)
        if self._transferring and reason is EndReason.CALLEE_HANGUP:
            reason = EndReason.TRANSFERRED
        await self._end(reason, hangup=False)
        return await self.wait()

    @property
    def result(self) -> SessionResult | None:
        return self._result

    @property
    def transcript(self) -> list[Turn]:
        return self._transcript.turns

    @property
    def human_speech_detected_ms(self) -> float | None:
        """Answer → the callee's first speech (not music or tones), for max_hold; None until they speak."""
        return self._human_speech_ms

    def dtmf_received(self, digit: str) -> None:
        """A digit that came by SIP INFO rather than through the audio port's RFC 4733 events."""
        self._on_dtmf(digit)

    @property
    def agent_busy(self) -> bool:
        """The agent is thinking or talking (its reply is not over yet)."""
        return self._agent_busy()

    # -- greeting ----------------------------------------------------------------------------
    def _greet(self, timer: TurnTimer | None) -> None:
        """Speak the first message (pre-synthesized if prepared), then let the brain go on."""
        self._greeted = True
        if self._greeting_timer is not None:
            self._greeting_timer.cancel()
            self._greeting_timer = None
        self._playback.begin_turn()
        if self._first_pcm is not None:
            self._playback.write(self._first_message, self._first_pcm)
            if timer is not None:
                timer.first_action = timer.first_chunk = self._now()
            self._respond(CallStarted(), timer, first=None)
        else:
            self._respond(CallStarted(), timer, first=self._first_message or None)

    def _greet_after_timeout(self) -> None:
        self._greeting_timer = None
        if not self._greeted and not self._detector.in_turn and not self._ending:
            self._greet(None)

    # -- inbound audio -----------------------------------------------------------------------
    def _on_audio(self, frame: bytes) -> None:
        now = self._now()
        if self._recorder is not None:
            # One inbound frame per media tick: their count is the recording's clock.
            self._recorder.callee(frame, now, slot=self._frames_in)
        self._frames_in += 1
        if self._ending:
            return
        self._recognizer.push(frame)
        if self._human_speech_ms is None and self._human.feed(frame):
            self._human_speech_ms = self._human.onset_ms  # one frame per 20 ms since the answer
        vad_frame = self._vad_resampler.feed(frame)
        event = None
        if vad_frame:
            probability = self._gate(self._vad.feed(vad_frame), frame, self._detector.threshold)
            if self._voicemail is not None:
                step = self._voicemail.feed(frame, probability >= self._detector.threshold)
                if step is not None:
                    self._on_voicemail_step(step)
            if self._leaving_message:
                return  # a voicemail greeting is not a turn to answer
            event = self._detector.feed(probability, now)
        if isinstance(event, SpeechStart):
            self._on_speech_start(event)
        elif isinstance(event, Endpoint):
            self._on_endpoint(event)
            return
        if (
            self._user_over_agent
            and self._detector.in_turn
            and self._detector.speech_ms >= self.agent.turn_taking.barge_in_min_speech_ms
        ):
            self._barge_in()

    def _agent_busy(self) -> bool:
        return self._playback.speaking or (self._response is not None and not self._response.done())

    def _on_speech_start(self, ev: SpeechStart) -> None:
        self._speech_start_ms = ev.at_ms
        self._silence.disarm()
        if self._greeting_timer is not None:
            self._greeting_timer.cancel()
            self._greeting_timer = None
        self._recognizer.begin(self._brain.expected() if self._greeted else GREETINGS)
        self._user_over_agent = self._agent_busy()

    def _barge_in(self) -> None:
        """The callee talks over the agent: silence the agent within this frame."""
        self._user_over_agent = False
        if self._response is not None and not self._response.done():
            self._response.cancel()
        spoken = self._playback.interrupt()
        if spoken.text or spoken.heard:
            self._add_agent_turn(spoken.text, spoken.start_ms, spoken.end_ms, spoken.interrupted, None)

    def _on_endpoint(self, ev: Endpoint) -> None:
        if self._user_over_agent:
            # Too short to interrupt (a backchannel, a cough): the agent goes on.
            self._user_over_agent = False
            self._recognizer.discard()
            return
        timer = TurnTimer(speech_end=ev.speech_end_ms, endpoint=ev.at_ms)
        if not self._greeted:
            # user_first: the callee said hello. Greet at once; what they said only goes in the books.
            timer.final = ev.at_ms
            self._greet(timer)
        self._spawn(self._user_turn(self._speech_start_ms, timer))

    async def _user_turn(self, start_ms: float, timer: TurnTimer) -> None:
        greeting = timer.final is not None  # answered by the greeting already
        final = await self._recognizer.finish()
        if not greeting:
            timer.final = self._now()
        text = final.text.strip()
        if text:
            self._transcript.add(Turn("user", text, round(start_ms), round(timer.speech_end)))
            self._silence.heard_callee()
        if greeting:
            return
        if not text:
            self._arm_silence_if_idle()
        else:
            self._respond(UserSaid(text, final.confidence), timer)

    def _on_dtmf(self, digit: str) -> None:
        if self._ending:
            return
        now = self._now()
        if self._agent_busy():
            self._barge_in()
        self._transcript.add(Turn("user", f"[DTMF {digit}]", round(now), round(now)))
        self._silence.heard_callee()
        if not self._greeted:
            self._greet(None)  # user_first: a key press is as good as a hello
        else:
            self._respond(DtmfReceived(digit), None)

    # -- answering machines ------------------------------------------------------------------
    def _on_voicemail_step(self, step: Step) -> None:
        if step == "record":
            self._spawn(self._leave_message())
        elif step == "machine" and self.agent.voicemail == "hangup":
            self._spawn(self._end(EndReason.VOICEMAIL, hangup=True))
        elif step == "machine" and self.agent.voicemail == "leave_message" and self._voicemail is not None:
            # Stop talking over the greeting; what was said stays in the books. Speak after the beep.
            self._leaving_message = self._voicemail.waiting_for_beep = True
            self._silence.disarm()
            if self._greeting_timer is not None:
                self._greeting_timer.cancel()
                self._greeting_timer = None
            self._greeted = True
            self._barge_in()
            self._recognizer.discard()

    async def _leave_message(self) -> None:
        self._playback.begin_turn()
        await self._playback.say(self._voicemail_message or self._first_message, self._tts)
        await self._drain_and_finish_turn(None)
        await self._end(EndReason.VOICEMAIL, hangup=True)

    # -- outbound audio ----------------------------------------------------------------------
    def _on_sent(self, frame: bytes) -> None:
        if self._recorder is not None:
            # Sent in the same tick as the next inbound frame is received: the same slot.
            self._recorder.agent(frame, self._now(), slot=self._frames_in)
        self._playback.on_sent(frame)

    def _note_first_audio(self, at_ms: float) -> None:
        if self._first_audio_ms is None:
            self._first_audio_ms = at_ms

    # -- the brain's replies -----------------------------------------------------------------
    def _respond(self, event: BrainEvent, timer: TurnTimer | None, first: str | None = None) -> None:
        if self._ending:
            return
        if not isinstance(event, CallStarted):  # the greeting began its turn already
            if self._agent_busy():
                self._barge_in()  # a new reply replaces the old one; the books keep what was heard
            self._playback.begin_turn()
        elif self._response is not None and not self._response.done():
            self._response.cancel()
        self._playback.on_first_sent = self._first_sent_hook(timer)
        self._response = self._spawn(self._run_response(event, timer, first))

    def _first_sent_hook(self, timer: TurnTimer | None) -> Callable[[float], None]:
        def hook(at_ms: float) -> None:
            self._note_first_audio(at_ms)
            if timer is not None and timer.first_sent is None:
                timer.first_sent = at_ms
                self._timers.append(timer)

        return hook

    async def _run_response(self, event: BrainEvent, timer: TurnTimer | None, first: str | None) -> None:
        if first is not None:
            await self._do(Say(first), timer)
        history = self._transcript.turns
        if isinstance(event, CallStarted) and self._first_message:
            # The greeting is still playing, so it is not in the transcript yet: the brain must know it.
            history = [*history, Turn("agent", self._first_message, 0, 0)]
        actions = self._brain.respond(history, event)
        while True:
            try:
                action = await anext(actions)
            except StopAsyncIteration:
                break
            except Exception:
                # The brain's model or server failed: the callee hears an apology, not dead air.
                log.exception("the brain failed; apologizing and ending the call")
                await self._say_goodbye_and_end(EndReason.INTERNAL_ERROR, _APOLOGY)
                return
            if timer is not None and timer.first_action is None:
                timer.first_action = self._now()
            await self._do(action, timer)
            if self._ending:
                return
        await self._playback.wait_drained()
        self._finish_agent_turn(timer)
        self._arm_silence_if_idle()

    async def _do(self, action: Action, timer: TurnTimer | None) -> None:
        if isinstance(action, Say):
            if action.text.strip():
                await self._playback.say(action.text, self._tts, self._first_chunk_hook(timer))
        elif isinstance(action, SetOutcome):
            self.outcome.update(action.fields)
        elif isinstance(action, OptOut):
            self._opt_out = True
            self.outcome.setdefault("opt_out", True)
        elif isinstance(action, SendDtmf):
            await self._drain_and_finish_turn(timer)
            now = self._now()
            sent = self._port.send_dtmf(action.digits)
            if inspect.isawaitable(sent):
                await sent
            self._transcript.add(Turn("agent", f"[DTMF {action.digits}]", round(now), round(self._now())))
            self._playback.begin_turn()
        elif isinstance(action, EndCall):
            await self._drain_and_finish_turn(timer)
            await self._end(_END_REASONS.get(action.reason, EndReason.AGENT_HANGUP), hangup=True)
        elif isinstance(action, Transfer):
            await self._drain_and_finish_turn(timer)
            self._transfer_to = action.to
            failure: str | None = "this line cannot transfer calls"
            if self._transfer is not None:
                self._transferring = True
                failure = await self._transfer(action.to)
                self._transferring = False
            if failure:
                log.info("transfer to %s failed: %s", action.to, failure)
                self.outcome["transfer_failed"] = failure
                await self._say_goodbye_and_end(EndReason.AGENT_HANGUP, _TRANSFER_APOLOGY)
                return
            await self._end(EndReason.TRANSFERRED, hangup=True)

    def _first_chunk_hook(self, timer: TurnTimer | None) -> Callable[[float], None] | None:
        if timer is None or timer.first_chunk is not None:
            return None

        def hook(at_ms: float) -> None:
            if timer.first_chunk is None:
                timer.first_chunk = at_ms

        return hook

    async def _drain_and_finish_turn(self, timer: TurnTimer | None) -> None:
        pending_s = self._port.output_pending_ms / 1000
        await self._playback.wait_drained(pending_s + _DRAIN_GRACE_S)
        self._finish_agent_turn(timer)

    def _finish_agent_turn(self, timer: TurnTimer | None) -> None:
        spoken = self._playback.end_turn()
        if spoken.text:
            latency = timer.stages() if timer is not None and timer.first_sent is not None else None
            self._add_agent_turn(spoken.text, spoken.start_ms, spoken.end_ms, False, latency)

    def _add_agent_turn(
        self, text: str, start: float, end: float, interrupted: bool, latency: dict[str, float] | None
    ) -> None:
        self._transcript.add(Turn("agent", text, round(start), round(end), interrupted, latency or {}))

    # -- timers ------------------------------------------------------------------------------
    def _arm_silence_if_idle(self) -> None:
        if not self._ending and self._greeted and not self._detector.in_turn and not self._playback.speaking:
            self._silence.arm()

    def _on_silence(self, count: int) -> None:
        if self._ending or self._detector.in_turn:
            return
        self._respond(Silence(count), None)

    def _on_max_duration(self) -> None:
        self._max_duration_timer = None
        self._spawn(self._say_goodbye_and_end(EndReason.MAX_DURATION))

    async def _say_goodbye_and_end(self, reason: EndReason, before: str = "") -> None:
        current = asyncio.current_task()
        if self._response is not None and self._response is not current and not self._response.done():
            self._response.cancel()
        if self._playback.speaking:
            self._barge_in()
        self._playback.begin_turn()
        await self._playback.say(f"{before} {self.agent.goodbye_message}".strip(), self._tts)
        await self._drain_and_finish_turn(None)
        await self._end(reason, hangup=True)

    # -- the end -----------------------------------------------------------------------------
    async def _end(self, reason: EndReason, *, hangup: bool) -> None:
        if self._ending:
            return
        self._ending = True
        for handle in (self._greeting_timer, self._max_duration_timer):
            if handle is not None:
                handle.cancel()
        self._silence.disarm()
        self._port.set_audio_handler(None)
        self._port.set_dtmf_handler(None)
        current = asyncio.current_task()
        if self._response is not None and self._response is not current and not self._response.done():
            self._response.cancel()
        if self._playback.speaking:
            spoken = self._playback.interrupt()
            if spoken.text:
                self._add_agent_turn(spoken.text, spoken.start_ms, spoken.end_ms, spoken.interrupted, None)
        self._port.set_sent_handler(None)
        await self._recognizer.close()
        # Writing a long call's WAV takes a while: not on the loop that drives every call's media.
        recording = await asyncio.to_thread(self._recorder.close) if self._recorder is not None else None
        self._result = SessionResult(
            end_reason=reason,
            transcript=self._transcript.turns,
            outcome=dict(self.outcome),
            recording_path=recording,
            latency=[t.stages() for t in self._timers],
            first_audio_ms=self._first_audio_ms,
            answered_at=self._answered_at,
            human_speech_detected_ms=self._human_speech_ms,
            answered_by=self._voicemail.answered_by.value
            if self._voicemail is not None and self._voicemail.answered_by is not None
            else None,
            duration_ms=self._now(),
            opt_out=self._opt_out,
            transfer_to=self._transfer_to,
        )
        try:
            if hangup and self._hangup is not None:
                await _maybe_await(self._hangup(reason))
        finally:
            self._done.set()
            for task in list(self._tasks):
                if task is not current and not task.done():
                    task.cancel()

    def _guarded(self, handler: Callable[[_T], None]) -> Callable[[_T], None]:
        """``handler`` as the media layer calls it: a failure ends this call, never the media clock
        that drives every call in the process."""

        def call(arg: _T) -> None:
            try:
                handler(arg)
            except Exception:
                if not self._ending:
                    log.exception("agent session failed on a media callback; ending the call")
                    self._spawn(self._end(EndReason.INTERNAL_ERROR, hangup=True))

        return call

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not self._ending:
            log.error("agent session task failed; ending the call", exc_info=exc)
            self._spawn(self._end(EndReason.INTERNAL_ERROR, hangup=True))


async def _maybe_await(value: Awaitable[None] | None) -> None:
    if value is not None and inspect.isawaitable(value):
        await value
