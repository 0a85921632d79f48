"""The console's UI strings in English, Japanese and Korean (one catalogue, no build step).

:func:`translator` gives the ``t(key)`` that templates call; a key missing from the catalogue is
a bug that ``tests/console/test_i18n.py`` catches (every key has all three languages). The
language comes from the session (chosen with ``?lang=``) or the browser's ``Accept-Language``.
"""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("en", "ja", "ko")

CATALOGUE: dict[str, tuple[str, str, str]] = {
    # key: (en, ja, ko)
    "console": ("Accord console", "Accord コンソール", "Accord 콘솔"),
    "login": ("Log in", "ログイン", "로그인"),
    "logout": ("Log out", "ログアウト", "로그아웃"),
    "token": ("API token", "API トークン", "API 토큰"),
    "login_help": ("Log in with an Accord API token (accord node token create).",
                   "Accord の API トークンでログインします (accord node token create)。",
                   "Accord API 토큰으로 로그인합니다 (accord node token create)."),
    "login_once_help": ("A one-time login link: press the button to open this node's console.",
                        "一回限りのログインリンクです。ボタンを押すとこのノードのコンソールを開きます。",
                        "일회용 로그인 링크입니다. 버튼을 누르면 이 노드의 콘솔이 열립니다."),
    "login_failed": ("That token was not accepted.", "このトークンは受け付けられませんでした。",
                     "이 토큰은 허용되지 않았습니다."),
    "login_limited": ("Too many failed logins; try again later.",
                      "ログインの失敗が多すぎます。しばらくしてから再試行してください。",
                      "로그인 실패가 너무 많습니다. 잠시 후 다시 시도하십시오."),
    "overview": ("Overview", "概要", "개요"),
    "alerts": ("Alerts", "警報", "경보"),
    "intel": ("Intelligence", "情報", "정보"),
    "federation": ("Federation", "連携", "연합"),
    "dialogue": ("Dialogue", "対話", "대화"),
    "signed_in_as": ("Signed in as", "ログイン中", "로그인 사용자"),
    "partner_view": ("partner view: only what is releasable to", "パートナー表示: 開示可能なもののみ",
                     "파트너 보기: 공개 가능한 항목만"),
    "live": ("Live", "ライブ", "실시간"),
    "live_feed": ("Live feed", "ライブフィード", "실시간 피드"),
    "connected": ("connected", "接続中", "연결됨"),
    "disconnected": ("reconnecting…", "再接続中…", "재연결 중…"),
    "kind": ("Kind", "種別", "종류"),
    "id": ("ID", "ID", "ID"),
    "originator": ("Originator", "発信元", "발신"),
    "marking": ("Marking", "区分", "등급"),
    "created": ("Created", "作成", "생성"),
    "summary": ("Summary", "概要", "요약"),
    "nothing": ("Nothing to show.", "表示するものはありません。", "표시할 항목이 없습니다."),
    "items": ("Items", "アイテム", "항목"),
    "counted_newest": ("counted among the node's newest items:", "ノードの最新アイテムのうち:",
                       "노드의 최신 항목 중:"),
    "incident": ("Incident", "事案", "사건"),
    "msg_type": ("Message", "種類", "유형"),
    "areas": ("Areas", "地域", "지역"),
    "cap_xml": ("CAP XML", "CAP XML", "CAP XML"),
    "picture": ("Live picture", "状況図", "상황도"),
    "legend": ("Legend", "凡例", "범례"),
    "legend_own": ("own track (solid)", "自国の航跡 (実線)", "자국 항적 (실선)"),
    "legend_partner": ("partner track (dashed)", "パートナーの航跡 (破線)", "파트너 항적 (점선)"),
    "legend_launch": ("predicted launch point (suspect missile launcher, anticipated)",
                      "推定発射地点 (不審なミサイル発射機、予想)", "추정 발사 지점 (의심 미사일 발사대, 예상)"),
    "legend_impact": ("predicted impact point and its 95 % ellipse", "推定着弾点と 95 % 楕円",
                      "추정 탄착점과 95 % 타원"),
    "legend_track": ("track: suspect ballistic missile (the trail's colour: who tracks it)",
                     "航跡: 不審な弾道ミサイル (軌跡の色: 追尾した国)", "항적: 의심 탄도 미사일 (궤적 색: 추적한 국가)"),
    "legend_symbols": ("Symbols: MIL-STD-2525D / APP-6", "記号: MIL-STD-2525D / APP-6",
                       "기호: MIL-STD-2525D / APP-6"),
    "legend_alerted": ("alerted area", "警報対象地域", "경보 지역"),
    "legend_radar": ("radar (friend, ground sensor) and its coverage", "レーダー (友軍の地上センサー) と覆域",
                     "레이더 (우군 지상 센서)와 탐지 범위"),
    "radars": ("Radars", "レーダー", "레이더"),
    "radar": ("Radar", "レーダー", "레이더"),
    "how": ("How", "根拠", "근거"),
    "how_reported": ("named by the track", "航跡に記載", "항적에 기재"),
    "how_coverage": ("track inside its coverage", "航跡が覆域内", "항적이 탐지 범위 안"),
    "no_radars": ("No known radar.", "既知のレーダーはありません。", "알려진 레이더가 없습니다."),
    "contributors": ("Contributed by", "寄与したレーダーとパートナー", "기여한 레이더와 파트너"),
    "replay": ("Time", "時刻", "시각"),
    "replay_ago": ("ago", "前", "전"),
    "replay_show": ("Show", "表示", "표시"),
    "replay_play": ("Replay the last 30 minutes", "直近30分を再生", "최근 30분 재생"),
    "replay_live": ("Live", "ライブ", "실시간"),
    "tracks": ("Tracks", "航跡", "항적"),
    "track": ("Track", "航跡", "항적"),
    "import": ("Import", "取り込み", "가져오기"),
    "export": ("Export", "書き出し", "내보내기"),
    "bundle": ("STIX 2.1 bundle (JSON)", "STIX 2.1 バンドル (JSON)", "STIX 2.1 번들 (JSON)"),
    "imported": ("Stored", "保存", "저장됨"),
    "skip_invalid": ("store the valid objects, skip and list the invalid ones",
                     "有効なオブジェクトを保存し、無効なものは一覧にして除外する",
                     "유효한 객체는 저장하고 유효하지 않은 객체는 목록으로 제외"),
    "skipped": ("Skipped (invalid)", "除外 (無効)", "제외됨 (유효하지 않음)"),
    "already_present": ("already present", "既存", "이미 있음"),
    "phase": ("Phase", "段階", "단계"),
    "position": ("Position", "位置", "위치"),
    "altitude": ("Altitude", "高度", "고도"),
    "speed": ("Speed", "速度", "속도"),
    "source": ("Source", "情報源", "출처"),
    "predicted_impact": ("Predicted impact", "予測着弾点", "예측 탄착점"),
    "at": ("at", "時刻", "시각"),
    "prediction": ("prediction", "予測", "예측"),
    "since_launch": ("Since launch", "発射から", "발사 후"),
    "to_impact": ("To impact", "着弾まで", "탄착까지"),
    "unknown": ("unknown", "不明", "알 수 없음"),
    "cancelled": ("cancelled", "解除", "해제"),
    "download": ("download", "ダウンロード", "다운로드"),
    "collections": ("Collections", "コレクション", "컬렉션"),
    "collection": ("Collection", "コレクション", "컬렉션"),
    "type": ("Type", "タイプ", "유형"),
    "label": ("Label", "ラベル", "레이블"),
    "search": ("Search", "検索", "검색"),
    "filter": ("Filter", "絞り込み", "필터"),
    "any": ("any", "すべて", "전체"),
    "since": ("Since (date)", "開始日", "시작일"),
    "name": ("Name", "名称", "이름"),
    "objects": ("Objects", "オブジェクト", "객체"),
    "relationships": ("Relationships", "関係", "관계"),
    "object": ("Object", "オブジェクト", "객체"),
    "partners": ("Partners", "パートナー", "파트너"),
    "party": ("Party", "当事者", "당사자"),
    "last_contact": ("Last contact", "最終接続", "최종 접촉"),
    "queued": ("Queued", "待機", "대기"),
    "delivered": ("Delivered", "配信済", "전달됨"),
    "failures": ("Failures", "失敗", "실패"),
    "lag": ("Not yet acknowledged", "未確認", "미확인"),
    "partner_head": ("Partner ledger head", "相手台帳ヘッド", "상대 원장 헤드"),
    "consistency": ("Consistency", "整合性", "일관성"),
    "consistent": ("consistent", "整合", "일관됨"),
    "inconsistent": ("INCONSISTENT", "不整合", "불일치"),
    "ledger": ("Ledger", "台帳", "원장"),
    "refusals": ("Refusals", "拒否", "거부"),
    "reason": ("Reason", "理由", "사유"),
    "agreements": ("Agreements", "協定", "협정"),
    "valid_until": ("Valid until", "有効期限", "유효 기한"),
    "expiring": ("expires soon", "まもなく失効", "곧 만료"),
    "commitments": ("Commitments", "コミットメント", "약속"),
    "meetings": ("Upcoming meetings", "今後の会合", "예정된 회의"),
    "owner": ("Owner", "担当", "담당"),
    "due": ("Due", "期限", "기한"),
    "status": ("Status", "状態", "상태"),
    "overdue": ("overdue", "期限超過", "기한 초과"),
    "update": ("Update", "更新", "갱신"),
    "evidence": ("Evidence", "根拠", "근거"),
    "updated": ("Signed and stored version", "署名済みの版を保存しました", "서명된 버전을 저장했습니다"),
    "forbidden": ("Your token may not open this page.", "このトークンではこのページを開けません。",
                  "이 토큰으로는 이 페이지를 열 수 없습니다."),
    "not_found": ("Not found.", "見つかりません。", "찾을 수 없습니다."),
    "bad_request": ("The request was refused.", "要求は拒否されました。", "요청이 거부되었습니다."),
    "language": ("Language", "言語", "언어"),
    "skip": ("Skip to content", "本文へ移動", "본문으로 건너뛰기"),
    "policy_explain": ("Policy explain", "ポリシー説明", "정책 설명"),
    "recipient": ("Recipient", "受領者", "수신자"),
    "item_id": ("Item id", "アイテム ID", "항목 ID"),
    "explain": ("Explain", "説明", "설명"),
}


def pick_lang(requested: str | None, accept_language: str | None = None) -> str:
    """``requested`` if supported, else the first supported language in ``Accept-Language``."""
    if requested in LANGS:
        return str(requested)
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"


def translator(lang: str) -> Callable[[str], str]:
    n = LANGS.index(lang) if lang in LANGS else 0

    def t(key: str) -> str:
        return CATALOGUE[key][n]

    return t
