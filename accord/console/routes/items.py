"""The console's item pages: the overview (counts and the newest items), an item's detail (a
track's facts, contributors and latest prediction), the alerts board, the common picture (its
page, its SVG, the replay ``ago`` seconds back) and an alert's CAP XML.

Part of :mod:`accord.console.routes`; what they draw is :mod:`accord.console.boards` and
:mod:`accord.console.picture`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from accord.console import events as ev
from accord.console.boards import alert_areas, area_names, incidents
from accord.console.bounded import ALERTS_PER_ORIGINATOR, RADARS_PER_ORIGINATOR, RECENT, newest
from accord.console.i18n import translator
from accord.console.overview import Overview, policy_state
from accord.console.picture import REPLAY_SECONDS, seconds_of
from accord.console.routes.common import Console
from accord.console.sessions import Session
from accord.console.view import Viewer
from accord.core.markings import Marking

PARTNER_SCAN = 5000  # a partner's overview counts what it may see among the node's newest items


def add_routes(router: APIRouter, c: Console) -> None:
    """Register this module's routes on ``router`` (:func:`~accord.console.routes.make_router`
    calls each module's in turn: the order in which routes match)."""
    node = c.node
    now = c.now
    session_of = c.session_of
    viewer_of = c.viewer_of
    need = c.need
    page = c.page
    visible_item = c.visible_item
    visible_items = c.visible_items

    # --- pages ----------------------------------------------------------------------------
    @router.get("/console/")
    def overview(request: Request, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        made = Overview(request.state.ledger_last, (), [], [], None)
        if v.may("items:read"):  # the party's overview, made at most every few seconds (accord.console.overview)
            with c.lock:
                policy = policy_state(node)
            made = c.overviews.of(v.party, request.state.ledger_last, policy, lambda: make_overview(v))
            request.state.ledger_last = made.ledger_last  # the live rows from there
        return page(request, s, "overview.html", [i.marking for i in made.recent], counts=made.counts,
                    recent=made.recent, summary=ev.summary, scanned=made.scanned)

    def make_overview(v: Viewer) -> Overview:
        """What ``v`` (with ``items:read``) may see: counted by kind, and the newest 20."""
        with c.lock:
            ledger_last = node.ledger.size - 1  # before anything is read: the page's stream starts after it
            policy = policy_state(node)
        counts: dict[str, int] = {}
        scanned = None
        if not v.partner:  # sees everything: counted and picked by the store
            counts = node.count_items()
            recent = visible_items(v, newest=20)[::-1]
        else:  # a partner: only what it may see, item by item, of the newest PARTNER_SCAN items
            # (every item the node ever stored was read and decoded, under the node's lock, for
            # each view: ~0.8 s a page at 20,000 items, growing with its history)
            held = node.count_items()
            items = visible_items(v, newest=PARTNER_SCAN)
            for i in items:
                counts[i.kind] = counts.get(i.kind, 0) + 1
            recent = sorted(items, key=lambda i: i.created, reverse=True)[:20]
            scanned = PARTNER_SCAN if sum(held.values()) > PARTNER_SCAN else None
        return Overview(ledger_last, policy, sorted(counts.items()), recent, scanned)

    @router.get("/console/items/{item_id:path}")
    def item_detail(item_id: str, request: Request, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        item = visible_item(v, item_id)
        if item is None:
            raise HTTPException(404, f"no item {item_id!r}")
        body = dict(item.body)
        body.pop("cap_xml", None)
        facts = pred = helped = impact = None
        times: tuple[Any, Any] = (None, None)
        shown = [item.marking]
        if item.kind == "warning.track":
            from accord.console.boards import impact_of, latest_prediction, prediction_times
            from accord.console.picture import (TRAIL_MINUTES, contributors, radars_of, source_pairs, track_facts,
                                                track_id_bytes)

            # the updates and predictions of this track's own tracks around this update only (a
            # flight lasts minutes), picked by the store: every track and prediction the node ever
            # stored, then every one within 30 minutes, was read and decoded for each view of a
            # track — ~0.5 s of CPU a page at 8 items a second, any console user's to ask
            near = {"since": item.created - timedelta(minutes=TRAIL_MINUTES),
                    "until": item.created + timedelta(minutes=TRAIL_MINUTES)}
            facts = track_facts(item)
            own = (item.originator, str(item.body.get("track_id")))
            tracks = [t for party, tid in source_pairs(item) if (party, tid) != own  # (the item stands for its own)
                      for t in visible_items(v, "warning.track", originator=party, containing=track_id_bytes(tid),
                                             **near)]
            helped = contributors(item, tracks, radars_of(visible_items(v, "warning.radar")))
            shown += [i.marking for _, _, i in helped["parties"] if i is not None]
            shown += [r.marking for r, _, _ in helped["radars"] if r is not None]
            pred = latest_prediction(visible_items(v, "warning.prediction", originator=item.originator,
                                                   containing=track_id_bytes(item.body.get("track_id")), **near),
                                     item.originator, own[1])
            if pred is not None:
                times = prediction_times(pred)
                impact = impact_of(pred)
                shown.append(pred.marking)
        return page(request, s, "item.html", shown, item=item, facts=facts, pred=pred, impact=impact,
                    impact_at=times[1],
                    helped=helped,
                    body=json.dumps(body, indent=2, ensure_ascii=False), summary=ev.summary)

    @router.get("/console/alerts")
    def alerts(request: Request, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        read = newest(c, v, "warning.alert", ALERTS_PER_ORIGINATOR, recent=RECENT)  # not every alert ever stored
        board = incidents(read.items, predictions_near(v, read.items))
        names = area_names(s.lang)
        return page(request, s, "alerts.html", [i.marking for i in read.items], incidents=board,
                    area_name=lambda code: names.get(code, code), alert_areas=alert_areas, now=now(),
                    cut=read.cut, per_originator=ALERTS_PER_ORIGINATOR)

    def predictions_near(v: Viewer, alerts_: list[Any]) -> list[Any]:
        """The predictions ``v`` may see of the incidents' tracks created within 30 minutes of an
        incident's messages (a flight lasts minutes): all the board needs for each incident's
        launch and impact times. The store picks them by originator, time and the ``"track_id":…``
        text of their stored JSON: every prediction the node ever stored, then every one within
        30 minutes of an incident, was read and decoded for each view, under the node's lock."""
        from accord.console.picture import TRAIL_MINUTES, track_id_bytes

        spans: dict[tuple[str, str], list[Any]] = {}  # (originator, incident) → [first, last, track id]
        for a in alerts_:
            key = (a.originator, str(a.body.get("incident", "?")))
            span = spans.setdefault(key, [a.created, a.created, a.body.get("track_id", "")])
            span[0], span[1] = min(span[0], a.created), max(span[1], a.created)
        margin = timedelta(minutes=TRAIL_MINUTES)
        windows: dict[str, list[list[Any]]] = {}  # originator → [first, last, track ids]
        for (party, _), (first, last, tid) in sorted(spans.items(), key=lambda kv: (kv[0][0], kv[1][0])):
            mine = windows.setdefault(party, [])
            if mine and first - margin <= mine[-1][1]:
                mine[-1][1] = max(mine[-1][1], last + margin)
                mine[-1][2].add(str(tid))
            else:
                mine.append([first - margin, last + margin, {str(tid)}])
        return [p for party, spans_ in windows.items() for first, last, tids in spans_
                for p in visible_items(v, "warning.prediction", originator=party, since=first, until=last,
                                       containing=tuple(b for t in sorted(tids) for b in track_id_bytes(t)))]

    def replay_ago(ago: str) -> int:
        """The ``ago`` parameter of the picture: whole seconds back from now, 0 to the replay
        window (30 minutes); anything else is a 400 page."""
        if not ago:
            return 0
        if not (ago.isascii() and ago.isdigit() and len(ago) <= 6) or int(ago) > REPLAY_SECONDS:
            raise HTTPException(400, f"ago: whole seconds from 0 to {REPLAY_SECONDS}, not {ago[:40]!r}")
        return int(ago)

    def picture_of(v: Viewer, lang: str, ago: int = 0) -> tuple[str, list[Marking], list[Any], list[Any]]:
        """The picture's SVG as it was ``ago`` seconds before now (drawn from the items created by
        then), the markings of what it draws, its tracks' latest items and its radars."""
        from accord.console import picture

        at = now() - timedelta(seconds=ago)
        since = at - timedelta(minutes=picture.TRAIL_MINUTES)

        def then(kind: str) -> list[Any]:
            """What ``v`` may see of ``kind`` created in the 30 minutes up to ``at``."""
            return visible_items(v, kind, until=at, since=since)

        tracks = then("warning.track")
        latest: dict[tuple[str, str], Any] = {}
        for p in then("warning.prediction"):
            key = (p.originator, str(p.body.get("track_id")))
            if key not in latest or seconds_of(p.body, "t") >= seconds_of(latest[key].body, "t"):
                latest[key] = p
        preds = [p for p in latest.values() if p.body.get("status", "tracking") == "tracking"]
        # alerts and radars are kept for good: each originator's newest, not every one ever stored
        boards = [inc for inc in incidents(newest(c, v, "warning.alert", ALERTS_PER_ORIGINATOR, until=at, recent=RECENT).items, [])
                  if inc.areas]
        alerted = sorted({a for inc in boards for a in inc.areas})
        radars = picture.radars_of(newest(c, v, "warning.radar", RADARS_PER_ORIGINATOR, until=at).items)
        svg = picture.render(home=node.party, tracks=tracks, predictions=preds, alerted=alerted, lang=lang,
                             now=at, t=translator(lang), radars=radars)
        heads: dict[tuple[str, str], Any] = {}
        for i in sorted(tracks, key=lambda i: (seconds_of(i.body, "t"), i.created)):
            heads[(i.originator, str(i.body.get("track_id")))] = i
        shown = [i.marking for i in tracks] + [p.marking for p in preds] + \
            [inc.messages[-1].marking for inc in boards] + [r.marking for r in radars]
        return svg, shown, [heads[k] for k in sorted(heads)], radars

    @router.get("/console/picture")
    def picture_page(request: Request, ago: str = "", s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        seconds = replay_ago(ago)
        svg, shown, heads, radars = picture_of(v, s.lang, seconds)
        from accord.warning.symbols import LEGEND

        return page(request, s, "picture.html", shown, svg=svg, heads=heads, radars=radars, home=node.party,
                    ago=seconds, replay_max=REPLAY_SECONDS, legend_symbols=LEGEND)

    @router.get("/console/picture.svg")
    def picture_svg(ago: str = "", s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        return Response(picture_of(v, s.lang, replay_ago(ago))[0], media_type="image/svg+xml")

    @router.get("/console/alerts/cap/{item_id:path}")
    def cap_xml(item_id: str, s: Session = Depends(session_of)) -> Response:
        v = viewer_of(s)
        need(v, "items:read")
        item = visible_item(v, item_id)
        # a partner's alert whose cap_xml is not text (an object, a number) has none to download
        if item is None or item.kind != "warning.alert" or not isinstance(item.body.get("cap_xml"), str):
            raise HTTPException(404, f"no CAP alert {item_id!r}")
        name = quote(str(item.body.get("identifier", "alert")).replace("/", "_"), safe="") + ".xml"
        return Response(item.body["cap_xml"], media_type="application/xml",
                        headers={"Content-Disposition": f"attachment; filename=\"{name}\""})
