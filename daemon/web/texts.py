"""The board's words in en / zh / ru: the page's labels, the login form, the script's messages.

The script reads its texts from a JSON data block the template writes with Jinja's `tojson`
(escaped for HTML), so every word of the page has its home here. `{name}` placeholders are
filled by the script. Pure data; imports only notify.render (the statuses' words).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from daemon.notify.render import span, status_text

__all__ = ["LANGUAGES", "REQUIREMENTS", "STATUSES", "TEXTS", "texts_for"]

LANGUAGES: Final = ("en", "zh", "ru")

TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Packer's board",
        "heading": "What to pack next",
        "all_accounts": "All accounts",
        "all_warehouses": "All warehouses",
        "your_name": "Your name",
        "hold_for": "Hold for",
        "hold_forever": "until released",
        "ack": "Take it",
        "hold": "Hold",
        "release": "Release",
        "overdue": "overdue",
        "left": "left",
        "held": "held",
        "held_until": "held until {time}",
        "acknowledged_by": "taken by {name} at {time}",
        "working_left": "{time} of working time left",
        "no_working_left": "no working time left before the deadline",
        "needs_data": "needs data: {names}",
        "tariff_at": "tariff steps up {time}",
        "moscow": "MSK",
        "summary": "{shown} of {total} postings, {overdue} overdue",
        "more": "{count} more not shown (the most urgent come first): {overdue} overdue, "
        "{held} held",
        "empty": "Nothing to pack: no watched posting.",
        "stale": "Data may be out of date: {accounts} last synced successfully {age} ago "
        "(the daemon polls every {interval}).",
        "never_synced": "never synced",
        "unreachable": "The board server does not answer; showing data from {time}.",
        "hold_all": "EMERGENCY STOP: no posting is cancelled while it lasts.",
        "read_only": "Read-only board: set a [board] token to use the buttons.",
        "log_in": "Log in",
        "log_out": "Log out",
        "need_name": "Type your name first (it is remembered on this device).",
        "refused": "Refused: {error}",
        "done_ack": "{number}: taken by {name}.",
        "done_hold": "{number}: held.",
        "done_release": "{number}: released.",
        "updated": "updated {time}; times in {zone}",
        "token": "Board token",
        "login_title": "Log in to the packer's board",
        "login_wrong": "Wrong token.",
        "login_help": "The token is in the daemon's config ([board] token_env, token_file, "
        "token_credential or token). This device stays logged in for 90 days.",
    },
    "zh": {
        "title": "打包看板",
        "heading": "下一个该打包的",
        "all_accounts": "全部账户",
        "all_warehouses": "全部仓库",
        "your_name": "你的名字",
        "hold_for": "暂缓时长",
        "hold_forever": "直到解除",
        "ack": "我来处理",
        "hold": "暂缓",
        "release": "解除暂缓",
        "overdue": "已超时",
        "left": "剩余",
        "held": "已暂缓",
        "held_until": "暂缓至 {time}",
        "acknowledged_by": "{name} 于 {time} 接手",
        "working_left": "剩余工作时间 {time}",
        "no_working_left": "截止前已没有工作时间",
        "needs_data": "缺少资料：{names}",
        "tariff_at": "运费 {time} 上调",
        "moscow": "莫斯科",
        "summary": "显示 {shown} / 共 {total} 个货件，{overdue} 个已超时",
        "more": "另有 {count} 个未显示（最紧急的排在前面）：{overdue} 个已超时，{held} 个已暂缓",
        "empty": "没有需要打包的货件。",
        "stale": "数据可能已过时：{accounts} 上次成功同步是在 {age} 前"
        "（守护进程每 {interval} 同步一次）。",
        "never_synced": "从未同步",
        "unreachable": "看板服务器没有响应；显示的是 {time} 的数据。",
        "hold_all": "紧急停止：在此期间不会取消任何货件。",
        "read_only": "只读看板：在 [board] 中设置令牌后才能使用按钮。",
        "log_in": "登录",
        "log_out": "退出",
        "need_name": "请先输入你的名字（本设备会记住）。",
        "refused": "被拒绝：{error}",
        "done_ack": "{number}：由 {name} 接手。",
        "done_hold": "{number}：已暂缓。",
        "done_release": "{number}：已解除暂缓。",
        "updated": "更新于 {time}；时间为 {zone} 时间",
        "token": "看板令牌",
        "login_title": "登录打包看板",
        "login_wrong": "令牌不正确。",
        "login_help": "令牌在守护进程的配置里（[board] token_env、token_file、token_credential "
        "或 token）。本设备将保持登录 90 天。",
    },
    "ru": {
        "title": "Доска упаковщика",
        "heading": "Что собирать дальше",
        "all_accounts": "Все аккаунты",
        "all_warehouses": "Все склады",
        "your_name": "Ваше имя",
        "hold_for": "Отложить на",
        "hold_forever": "до снятия",
        "ack": "Беру",
        "hold": "Отложить",
        "release": "Снять",
        "overdue": "просрочено",
        "left": "осталось",
        "held": "отложено",
        "held_until": "отложено до {time}",
        "acknowledged_by": "взял {name} в {time}",
        "working_left": "рабочего времени осталось {time}",
        "no_working_left": "до срока рабочего времени не осталось",
        "needs_data": "нужны данные: {names}",
        "tariff_at": "тариф повысится {time}",
        "moscow": "МСК",
        "summary": "{shown} из {total} отправлений, просрочено {overdue}",
        "more": "ещё {count} не показано (самые срочные идут первыми): просрочено {overdue}, "
        "отложено {held}",
        "empty": "Собирать нечего: нет отправлений под наблюдением.",
        "stale": "Данные могли устареть: {accounts} — последняя успешная синхронизация {age} "
        "назад (демон опрашивает каждые {interval}).",
        "never_synced": "ни разу не синхронизирован",
        "unreachable": "Сервер доски не отвечает; показаны данные на {time}.",
        "hold_all": "АВАРИЙНАЯ ОСТАНОВКА: пока она действует, ничего не отменяется.",
        "read_only": "Доска только для чтения: задайте токен в [board], чтобы работали кнопки.",
        "log_in": "Войти",
        "log_out": "Выйти",
        "need_name": "Сначала введите имя (оно запомнится на этом устройстве).",
        "refused": "Отказано: {error}",
        "done_ack": "{number}: взял {name}.",
        "done_hold": "{number}: отложено.",
        "done_release": "{number}: снято.",
        "updated": "обновлено {time}; время: {zone}",
        "token": "Токен доски",
        "login_title": "Вход на доску упаковщика",
        "login_wrong": "Неверный токен.",
        "login_help": "Токен задан в конфигурации демона ([board] token_env, token_file, "
        "token_credential или token). Это устройство останется в системе 90 дней.",
    },
}

# Ozon's `requirements.*` lists (API-FACTS): the data a posting still needs before assembly.
REQUIREMENTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "products_requiring_gtd": "customs declaration (GTD) number",
        "products_requiring_country": "country of manufacture",
        "products_requiring_change_country": "country of manufacture (to change)",
        "products_requiring_mandatory_mark": "Chestny ZNAK marking codes",
        "products_requiring_rnpt": "RNPT number",
        "products_requiring_jw_uin": "jewellery UIN",
        "products_requiring_imei": "IMEI",
        "products_requiring_weight": "actual weight",
    },
    "zh": {
        "products_requiring_gtd": "报关单号（GTD）",
        "products_requiring_country": "原产国",
        "products_requiring_change_country": "原产国（需更改）",
        "products_requiring_mandatory_mark": "“诚信标志”标识码",
        "products_requiring_rnpt": "RNPT 编号",
        "products_requiring_jw_uin": "珠宝 UIN",
        "products_requiring_imei": "IMEI",
        "products_requiring_weight": "实际重量",
    },
    "ru": {
        "products_requiring_gtd": "номер ГТД",
        "products_requiring_country": "страна производства",
        "products_requiring_change_country": "страна производства (изменить)",
        "products_requiring_mandatory_mark": "коды маркировки «Честный ЗНАК»",
        "products_requiring_rnpt": "РНПТ",
        "products_requiring_jw_uin": "УИН ювелирного изделия",
        "products_requiring_imei": "IMEI",
        "products_requiring_weight": "фактический вес",
    },
}

# The statuses a watched posting may have; their words come from the alerts' renderer.
STATUSES: Final = (
    "awaiting_registration",
    "acceptance_in_progress",
    "awaiting_approve",
    "awaiting_packaging",
    "awaiting_deliver",
    "arbitration",
    "client_arbitration",
    "delivering",
    "driver_pickup",
    "not_accepted",
    "cancelled",
)


def texts_for(language: str) -> dict[str, object]:
    """The page's texts in `language` (en when unknown), with the status names under
    `"statuses"`, the words for Ozon's requirement lists under `"requirements"` and the
    words for days, hours, minutes, seconds under `"units"`."""
    lang = language if language in LANGUAGES else "en"
    # The alerts' own unit words ("1d" -> "d", "1天" -> "天"), so the page and the messages agree.
    units = [span(timedelta(seconds=size), lang).removeprefix("1") for size in (86400, 3600, 60, 1)]
    return {
        **TEXTS[lang],
        "statuses": {status: status_text(status, lang) for status in STATUSES},
        "requirements": REQUIREMENTS[lang],
        "units": units,
    }
