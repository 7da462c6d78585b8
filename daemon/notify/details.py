"""The lines an alert shows besides a posting's deadline, and the digest's part about Ozon's
numbers, in English, Chinese and Russian (PURE, for `notify.render`).

- `overdue`: the ship-or-cancel advice: the recommendation and why, then the facts side by
  side (shipping now and the next tariff step; cancelling at the error index, its zone and
  fee; the ratings' statuses);
- `tariff_step`: when the tariff steps up, to what, from what;
- `needs_data`: what is missing for which product, and where the seller fills it in;
- the digest: the cancellation and shipment-delay ratings, the error index and its fees, a 403
  said once, and per warehouse over 14 days shipped / late / cancelled by ozon-sync /
  cancelled elsewhere.

The data comes from the payload (`daemon.alert_facts`, `daemon.ratingcheck`); outside text in
it (offer ids, warehouse names, paths) goes through the renderer's `clean`, passed in (this
module sits below the renderer).

Imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["DETAIL_WORDS", "detail_lines", "digest_lines"]

Clean = Callable[[str], str]

# Where the seller fills in each kind of missing data (seller account; the API method).
_WHERE_EXEMPLAR = "/v6/fbs/posting/product/exemplar/set"
_WHERE_COUNTRY = "/v2/posting/fbs/product/country/set"
_COUNTRY_LISTS = ("products_requiring_country", "products_requiring_change_country")

DETAIL_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "advice": "Advice",
        "ship": "SHIP IT", "cancel": "CANCEL IT", "decide": "YOUR CALL",
        "not_late": "not late yet",
        "free": "shipping costs nothing extra yet",
        "no_index": "no error index from Ozon yet",
        "no_role": "the API key has no rating role (Ozon answered 403)",
        "red_zone": "red zone: a seller cancellation may get the account blocked",
        "unknown_cost": "the cost of shipping or of cancelling is unknown",
        "currencies": "the costs are in different currencies",
        "cheaper_to_ship": "cancelling costs at least as much, and loses the sale",
        "delay_critical": "cancelling is cheaper and the shipment-delay rating is CRITICAL",
        "sale_worth": "cancelling is cheaper in fees, but the sale may be worth more",
        "ship_now": "ship now", "extra": "extra", "from": "from", "unknown": "unknown",
        "cancel_now": "cancel", "index": "error index", "zone": "zone", "fee": "fee",
        "capped": "capped", "no_data": "not known",
        "delay": "shipment-delay rating", "cancellations": "cancellation rating",
        "tariff_from": "Tariff from", "now": "now",
        "discount": "discount", "no_discount": "no discount", "commission": "surcharge",
        "missing": "Missing", "fill_in": "Fill it in: seller account, FBS orders, this "
        "posting, product details before assembly (API: {method})",
        "products_requiring_gtd": "customs declaration number (GTD)",
        "products_requiring_country": "country of origin",
        "products_requiring_change_country": "changed country of origin",
        "products_requiring_mandatory_mark": "marking code (Chestny ZNAK)",
        "products_requiring_rnpt": "RNPT",
        "products_requiring_jw_uin": "jewellery UIN",
        "products_requiring_imei": "IMEI",
        "products_requiring_weight": "actual weight",
        "ratings": "Ozon ratings, 7 days", "was": "was",
        "rating_order_cancellation": "cancellations", "rating_shipment_delay": "shipment delays",
        "index_line": "error index {index} % ({zone}: a seller cancellation costs {fee} % of "
        "the price), fees {period}: {fees}",
        "denied": "ratings not available: the API key has no role for {paths} (Ozon answered "
        "403); give it the role in the seller account (Settings, Seller API) to see them here",
        "warehouses": "Last 14 days by warehouse: shipped / late / cancelled by ozon-sync / "
        "cancelled elsewhere",
    },
    "zh": {
        "advice": "建议",
        "ship": "发货", "cancel": "取消", "decide": "请自行决定",
        "not_late": "尚未超时",
        "free": "现在发货暂无额外费用",
        "no_index": "尚未获取 Ozon 错误指数",
        "no_role": "API 密钥没有评分权限（Ozon 返回 403）",
        "red_zone": "红色区间：卖家取消可能导致店铺被封",
        "unknown_cost": "发货或取消的费用未知",
        "currencies": "两项费用币种不同",
        "cheaper_to_ship": "取消的费用不低于发货，且会失去这笔订单",
        "delay_critical": "取消更便宜，且延迟发货评分为 CRITICAL",
        "sale_worth": "按费用取消更便宜，但这笔订单可能更有价值",
        "ship_now": "现在发货", "extra": "附加", "from": "自", "unknown": "未知",
        "cancel_now": "取消", "index": "错误指数", "zone": "区间", "fee": "罚款",
        "capped": "已封顶", "no_data": "未知",
        "delay": "延迟发货评分", "cancellations": "取消评分",
        "tariff_from": "运费费率变更时间", "now": "当前",
        "discount": "折扣", "no_discount": "无折扣", "commission": "附加费",
        "missing": "缺少", "fill_in": "填写位置：卖家后台 → FBS 订单 → 此货件 → 打包前的商品信息"
        "（API：{method}）",
        "products_requiring_gtd": "报关单号（GTD）",
        "products_requiring_country": "原产国",
        "products_requiring_change_country": "更改原产国",
        "products_requiring_mandatory_mark": "标识码（Chestny ZNAK）",
        "products_requiring_rnpt": "RNPT 批次号",
        "products_requiring_jw_uin": "珠宝 UIN",
        "products_requiring_imei": "IMEI",
        "products_requiring_weight": "实际重量",
        "ratings": "Ozon 评分（7 天）", "was": "之前",
        "rating_order_cancellation": "取消率", "rating_shipment_delay": "延迟发货率",
        "index_line": "错误指数 {index}%（{zone}：卖家取消罚款为价格的 {fee}%），"
        "{period} 罚款：{fees}",
        "denied": "无法获取评分：API 密钥没有 {paths} 的权限（Ozon 返回 403）；"
        "请在卖家后台（设置 → Seller API）为密钥添加权限",
        "warehouses": "近 14 天按仓库：已发货 / 延迟 / ozon-sync 取消 / 其他方取消",
    },
    "ru": {
        "advice": "Совет",
        "ship": "ОТГРУЗИТЬ", "cancel": "ОТМЕНИТЬ", "decide": "РЕШАТЬ ВАМ",
        "not_late": "срок ещё не прошёл",
        "free": "отгрузка пока без доплаты",
        "no_index": "индекса ошибок от Ozon ещё нет",
        "no_role": "у API-ключа нет роли для рейтингов (Ozon ответил 403)",
        "red_zone": "красная зона: отмена продавцом может привести к блокировке",
        "unknown_cost": "стоимость отгрузки или отмены неизвестна",
        "currencies": "суммы в разных валютах",
        "cheaper_to_ship": "отмена стоит не меньше, и заказ будет потерян",
        "delay_critical": "отмена дешевле, а рейтинг просрочек CRITICAL",
        "sale_worth": "по сборам отмена дешевле, но заказ может стоить больше",
        "ship_now": "отгрузить сейчас", "extra": "доплата", "from": "с", "unknown": "неизвестно",
        "cancel_now": "отмена", "index": "индекс ошибок", "zone": "зона", "fee": "сбор",
        "capped": "с учётом лимита", "no_data": "неизвестно",
        "delay": "рейтинг просрочек", "cancellations": "рейтинг отмен",
        "tariff_from": "Тариф с", "now": "сейчас",
        "discount": "скидка", "no_discount": "без скидки", "commission": "доплата",
        "missing": "Не хватает", "fill_in": "Где заполнить: личный кабинет, заказы FBS, это "
        "отправление, данные товаров перед сборкой (API: {method})",
        "products_requiring_gtd": "номер ГТД",
        "products_requiring_country": "страна производства",
        "products_requiring_change_country": "изменённая страна производства",
        "products_requiring_mandatory_mark": "код маркировки (Честный ЗНАК)",
        "products_requiring_rnpt": "РНПТ",
        "products_requiring_jw_uin": "УИН ювелирного изделия",
        "products_requiring_imei": "IMEI",
        "products_requiring_weight": "фактический вес",
        "ratings": "Рейтинги Ozon, 7 дней", "was": "было",
        "rating_order_cancellation": "отмены", "rating_shipment_delay": "просрочки",
        "index_line": "индекс ошибок {index} % ({zone}: отмена продавцом стоит {fee} % "
        "цены), сборы {period}: {fees}",
        "denied": "рейтинги недоступны: у API-ключа нет роли для {paths} (Ozon ответил 403); "
        "добавьте роль в личном кабинете (Настройки, Seller API)",
        "warehouses": "14 дней по складам: отгружено / с опозданием / отменено ozon-sync / "
        "отменено не ozon-sync",
    },
}  # fmt: skip
_ZONES = {
    "zh": {"green": "绿色", "blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"},
    "ru": {"green": "зелёная", "blue": "синяя", "yellow": "жёлтая", "orange": "оранжевая",
           "red": "красная"},
}  # fmt: skip


def _w(language: str) -> dict[str, str]:
    return DETAIL_WORDS.get(language, DETAIL_WORDS["en"])


def _money(value: Any, w: Mapping[str, str]) -> str:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return w["unknown"]
    return f"{value[0]} {value[1]}".strip()


def _when(text: Any, zone: ZoneInfo) -> str:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def _zone(zone: Any, language: str) -> str:
    return _ZONES.get(language, {}).get(str(zone), str(zone))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


def _advice(advice: Mapping[str, Any], zone: ZoneInfo, language: str) -> list[str]:
    w = _w(language)
    verdict = w.get(str(advice.get("recommendation")), str(advice.get("recommendation")))
    why = w.get(str(advice.get("rule")), "")
    lines = [f"  {w['advice']}: {verdict}" + (f" ({why})" if why else "")]
    ship = f"{w['ship_now']}: {w['extra']} {_money(advice.get('surcharge'), w)}"
    if advice.get("next_step_at") and advice.get("next_surcharge"):
        ship += (
            f"; {w['from']} {_when(advice['next_step_at'], zone)}: "
            f"{w['extra']} {_money(advice['next_surcharge'], w)}"
        )
    lines.append(f"  {ship}")
    if advice.get("error_index") is None:
        missing = "no_role" if advice.get("index_missing") == "403" else "no_index"
        lines.append(f"  {w['cancel_now']}: {w[missing]}")
    else:
        fee = _money(advice.get("cancel_fee"), w)
        capped = f" ({w['capped']})" if advice.get("fee_capped") else ""
        lines.append(
            f"  {w['cancel_now']}: {w['index']} {_number(advice['error_index'])} % "
            f"({w['zone']} {_zone(advice.get('zone'), language)}), {w['fee']} {fee}{capped}"
        )
    delay = advice.get("delay_status") or w["no_data"]
    cancellations = advice.get("cancellation_status") or w["no_data"]
    lines.append(f"  {w['delay']}: {delay}; {w['cancellations']}: {cancellations}")
    return lines


def _tariff_text(tariff: Any, w: Mapping[str, str]) -> str:
    if not isinstance(tariff, Mapping):
        return w["unknown"]
    kind = w.get(str(tariff.get("type")), str(tariff.get("type") or "")) or w["unknown"]
    return f"{kind} {_number(tariff.get('rate'))} % = {_money(tariff.get('charge'), w)}"


def _tariff(tariff: Mapping[str, Any], zone: ZoneInfo, language: str) -> list[str]:
    w = _w(language)
    line = (
        f"  {w['tariff_from']} {_when(tariff['starts_at'], zone)}: "
        f"{_tariff_text(tariff.get('next'), w)}"
    )
    if tariff.get("now"):
        line += f" ({w['now']}: {_tariff_text(tariff['now'], w)})"
    return [line]


def _missing(missing: Sequence[Mapping[str, Any]], language: str, clean: Clean) -> list[str]:
    w = _w(language)
    lines = []
    methods = set()
    for item in missing:
        name = str(item.get("name", ""))
        what = w.get(name, clean(name.replace("_", " ")))
        products = ", ".join(
            f"SKU {product.get('sku')}"
            + (f" {clean(str(product['offer_id']))}" if product.get("offer_id") else "")
            for product in item.get("products") or ()
        )
        lines.append(f"  {w['missing']}: {what}" + (f": {products}" if products else ""))
        methods.add(_WHERE_COUNTRY if name in _COUNTRY_LISTS else _WHERE_EXEMPLAR)
    lines.append("  " + w["fill_in"].format(method=", ".join(sorted(methods))))
    return lines


def detail_lines(
    item: Mapping[str, Any], event: str, zone: ZoneInfo, language: str, clean: Clean
) -> list[str]:
    """The lines a posting's block shows for `event` besides its deadline (none for most)."""
    if event == "overdue" and isinstance(item.get("advice"), Mapping):
        return _advice(item["advice"], zone, language)
    if event == "tariff_step" and isinstance(item.get("tariff"), Mapping):
        return _tariff(item["tariff"], zone, language)
    if event == "needs_data" and isinstance(item.get("missing"), list):
        return _missing(item["missing"], language, clean)
    return []


def _rating(item: Mapping[str, Any], language: str) -> str:
    w = _w(language)
    name = w.get(str(item.get("rating")), str(item.get("rating")))
    unit = " %" if item.get("value_type") in ("PERCENT", None, "") else ""
    text = f"{name} {_number(item.get('value'))}{unit} {item.get('status') or ''}".rstrip()
    if isinstance(item.get("past_value"), int | float):
        text += f" ({w['was']} {_number(item['past_value'])}{unit})"
    return text


def digest_lines(digest: Mapping[str, Any], language: str, clean: Clean) -> list[str]:
    """The digest's lines about Ozon's numbers and the warehouses (none when it has neither)."""
    w = _w(language)
    lines: list[str] = []
    ozon: Mapping[str, Any] = digest.get("ozon") or {}
    ratings = ozon.get("ratings") or []
    if ratings:
        lines.append(f"{w['ratings']}: " + "; ".join(_rating(item, language) for item in ratings))
    index = ozon.get("error_index")
    if isinstance(index, Mapping):
        period = f"{index.get('period_from') or '?'}..{index.get('period_to') or '?'}"
        fees = f"{_number(index.get('fees'))} {clean(str(index.get('currency') or ''))}".strip()
        lines.append(
            w["index_line"].format(
                index=_number(index.get("percent")),
                zone=_zone(index.get("zone"), language),
                fee=_number(index.get("fee_percent")),
                period=period,
                fees=fees,
            )
        )
    if ozon.get("denied"):
        lines.append(w["denied"].format(paths=", ".join(clean(str(p)) for p in ozon["denied"])))
    warehouses = digest.get("warehouses") or []
    if warehouses:
        lines.append(w["warehouses"] + ":")
        for row in warehouses:
            name = clean(str(row.get("warehouse") or row.get("warehouse_id") or "-"))
            lines.append(
                f"  {name}: {row.get('shipped', 0)} / {row.get('shipped_late', 0)} / "
                f"{row.get('cancelled_by_us', 0)} / {row.get('cancelled_elsewhere', 0)}"
            )
    return lines
