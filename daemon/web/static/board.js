// The packer's board: fetches api/postings (and api/sync) every few seconds, draws the most
// urgent postings, ticks their countdowns every second, and sends acknowledge / hold / release.
//
// Every text that comes from outside (posting numbers, warehouse and account names, who
// acknowledged, error messages) is put into the page with textContent, never as markup.
// Countdowns tick from the moment the data arrived (performance.now()), so a wrong clock on
// the wall screen does not matter: only the server's seconds_left does.
"use strict";

(function () {
  const texts = JSON.parse(document.getElementById("board-texts").textContent);
  const settings = JSON.parse(document.getElementById("board-settings").textContent);
  const NAME_KEY = "ozon-sync-board-name";
  const HOLD_KEY = "ozon-sync-board-hold-for";
  const FILTER_KEY = "ozon-sync-board-filters";
  const HOUR = 3600;

  const el = (id) => document.getElementById(id);
  const list = el("postings");
  const accountFilter = el("filter-account");
  const warehouseFilter = el("filter-warehouse");
  const nameInput = el("ack-name");
  const holdFor = el("hold-for");

  let items = []; // the status --json elements, most urgent first
  let receivedAt = 0; // performance.now() when `items` arrived
  let lastGood = null; // Date of the last successful refresh
  let shown = []; // [{item, row, when, label, signature}] drawn now
  let refreshes = 0; // successful refreshes since the page loaded

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) =>
      key in values ? String(values[key]) : whole
    );
  }

  function node(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined && text !== null) made.textContent = String(text);
    return made;
  }

  // -- times -----------------------------------------------------------------------------------

  function partsIn(zone, date) {
    const format = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
    const parts = {};
    for (const part of format.formatToParts(date)) parts[part.type] = part.value;
    return parts;
  }

  function deadlineText(iso) {
    const date = new Date(iso);
    const local = partsIn(settings.zone, date);
    const text = `${local.year}-${local.month}-${local.day} ${local.hour}:${local.minute}`;
    if (settings.zone === "Europe/Moscow") return `${text} ${texts.moscow}`;
    const msk = partsIn("Europe/Moscow", date);
    const sameDay = msk.day === local.day && msk.month === local.month;
    const mskText = sameDay
      ? `${msk.hour}:${msk.minute}`
      : `${msk.month}-${msk.day} ${msk.hour}:${msk.minute}`;
    return `${text} (${texts.moscow} ${mskText})`;
  }

  function clockText(iso) {
    const local = partsIn(settings.zone, new Date(iso));
    return `${local.month}-${local.day} ${local.hour}:${local.minute}`;
  }

  const pad = (n) => String(n).padStart(2, "0");

  function countdownText(seconds) {
    const whole = Math.abs(Math.trunc(seconds));
    const days = Math.floor(whole / 86400);
    const rest = whole % 86400;
    const clock = `${Math.floor(rest / HOUR)}:${pad(Math.floor((rest % HOUR) / 60))}:${pad(rest % 60)}`;
    const text = days ? `${days}${texts.units[0]} ${clock}` : clock;
    return seconds < 0 ? `−${text}` : text;
  }

  function spanText(seconds) {
    // two largest units, as the alerts say it: "2h 5m", "2小时5分"
    let rest = Math.max(0, Math.trunc(seconds));
    const counts = [86400, 3600, 60, 1].map((size) => {
      const count = Math.floor(rest / size);
      rest %= size;
      return count;
    });
    let first = counts.findIndex((count) => count > 0);
    if (first < 0) first = 3;
    const parts = [];
    for (let i = first; i < Math.min(first + 2, 4); i++) {
      if (counts[i]) parts.push(`${counts[i]}${texts.units[i]}`);
    }
    return parts.join(settings.language === "zh" ? "" : " ") || `0${texts.units[3]}`;
  }

  function urgency(seconds, item) {
    if (item.held) return "held";
    if (seconds <= 0) return "overdue";
    if (seconds < HOUR) return "critical";
    if (seconds < 4 * HOUR) return "soon";
    if (seconds < 24 * HOUR) return "today";
    return "later";
  }

  function secondsLeft(item) {
    return item.seconds_left - (performance.now() - receivedAt) / 1000;
  }

  // -- filters ---------------------------------------------------------------------------------

  function savedFilters() {
    const query = new URLSearchParams(window.location.search);
    let stored = {};
    try {
      stored = JSON.parse(window.localStorage.getItem(FILTER_KEY) || "{}") || {};
    } catch (err) {
      stored = {};
    }
    return {
      account: query.get("account") ?? stored.account ?? "",
      warehouse: query.get("warehouse") ?? stored.warehouse ?? "",
    };
  }

  function setOptions(select, values, chosen) {
    const wanted = ["", ...values];
    const have = Array.from(select.options).map((option) => option.value);
    if (have.length !== wanted.length || have.some((value, i) => value !== wanted[i])) {
      while (select.options.length > 1) select.remove(1);
      for (const value of values) select.add(new Option(value, value));
    }
    select.value = wanted.includes(chosen) ? chosen : "";
  }

  function rememberFilters() {
    const filters = { account: accountFilter.value, warehouse: warehouseFilter.value };
    try {
      window.localStorage.setItem(FILTER_KEY, JSON.stringify(filters));
    } catch (err) {
      // private mode: filters last for this visit only
    }
    const query = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(filters)) {
      if (value) query.set(key, value);
      else query.delete(key);
    }
    const search = query.toString();
    window.history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
  }

  // -- drawing ---------------------------------------------------------------------------------

  function button(action, label, number) {
    const made = node("button", `act act-${action}`, label);
    made.type = "button";
    made.dataset.act = action;
    made.dataset.number = number;
    return made;
  }

  function row(item) {
    const li = node("li", "posting");
    li.dataset.number = item.posting_number;
    const countdown = node("div", "countdown");
    const when = node("span", "when");
    const label = node("span", "label");
    countdown.append(when, label);

    const info = node("div", "info");
    const title = node("div", "title");
    title.append(
      node("span", "number", item.posting_number),
      node("span", "status", texts.statuses[item.status] || item.status.replace(/_/g, " "))
    );
    const where = node("div", "where");
    where.append(
      node("span", "warehouse", item.warehouse || "-"),
      node("span", "account", item.account)
    );
    info.append(title, where, node("div", "deadline", deadlineText(item.shipment_date)));
    // working time left (a warehouse calendar), only while the deadline is ahead
    const working = item.working_seconds_left;
    if (working !== null && working !== undefined && item.seconds_left > 0 && !item.no_deadline) {
      info.append(
        working > 0
          ? node("div", "working", fill(texts.working_left, { time: spanText(working) }))
          : node("div", "working none-left", texts.no_working_left)
      );
    }
    if (item.next_tariff_at) {
      info.append(node("div", "tariff", fill(texts.tariff_at, {
        time: clockText(item.next_tariff_at),
      })));
    }

    const side = node("div", "side");
    const needs = item.requirements || [];
    if (needs.length) {
      const names = needs.map((name) => texts.requirements[name] || name.replace(/_/g, " "));
      const badge = node("div", "badge needs-badge", fill(texts.needs_data, {
        names: names.join(", "),
      }));
      badge.title = needs.join(", "); // Ozon's own names, for looking them up
      side.append(badge);
      li.dataset.needsData = "true";
    }
    if (item.held) {
      const heldText = item.held_until
        ? fill(texts.held_until, { time: clockText(item.held_until) })
        : texts.held;
      side.append(node("div", "badge held-badge", heldText));
    }
    if (item.acknowledged_by) {
      side.append(
        node("div", "badge ack-badge", fill(texts.acknowledged_by, {
          name: item.acknowledged_by,
          time: clockText(item.acknowledged_at),
        }))
      );
    }
    if (settings.can_write) {
      const buttons = node("div", "buttons");
      buttons.append(button("ack", texts.ack, item.posting_number));
      buttons.append(
        item.held
          ? button("release", texts.release, item.posting_number)
          : button("hold", texts.hold, item.posting_number)
      );
      side.append(buttons);
    }
    li.append(countdown, info, side);
    return { item, row: li, when, label };
  }

  function tick() {
    for (const entry of shown) {
      const seconds = secondsLeft(entry.item);
      entry.when.textContent = countdownText(seconds);
      entry.label.textContent = seconds <= 0 ? texts.overdue : texts.left;
      const wanted = `posting ${urgency(seconds, entry.item)}`;
      if (entry.row.className !== wanted) entry.row.className = wanted;
    }
  }

  function render() {
    const filters = { account: accountFilter.value, warehouse: warehouseFilter.value };
    const accounts = [...new Set(items.map((item) => item.account))].sort();
    const warehouses = [...new Set(items.map((item) => item.warehouse || "-"))].sort();
    setOptions(accountFilter, accounts, filters.account);
    setOptions(warehouseFilter, warehouses, filters.warehouse);
    const chosen = items.filter(
      (item) =>
        (!accountFilter.value || item.account === accountFilter.value) &&
        (!warehouseFilter.value || (item.warehouse || "-") === warehouseFilter.value)
    );
    const visible = chosen.slice(0, settings.show_at_most);
    const rest = chosen.slice(settings.show_at_most);

    // A row whose posting did not change (but for the time left) is kept, not drawn again.
    const before = new Map(shown.map((entry) => [entry.signature, entry]));
    shown = visible.map((item) => {
      const signature = JSON.stringify({ ...item, seconds_left: 0 });
      const kept = before.get(signature);
      if (kept) {
        kept.item = item;
        return kept;
      }
      return { ...row(item), signature };
    });
    const fragment = document.createDocumentFragment();
    for (const entry of shown) fragment.append(entry.row);
    list.replaceChildren(fragment);
    tick();

    const overdue = chosen.filter((item) => item.seconds_left <= 0).length;
    el("summary").textContent = fill(texts.summary, {
      shown: visible.length, total: chosen.length, overdue,
    });
    el("empty").hidden = chosen.length > 0;
    const more = el("more");
    more.hidden = rest.length === 0;
    if (rest.length) {
      more.textContent = fill(texts.more, {
        count: rest.length,
        overdue: rest.filter((item) => item.seconds_left <= 0).length,
        held: rest.filter((item) => item.held).length,
      });
    }
  }

  // -- talking to the daemon -------------------------------------------------------------------

  async function getJSON(path) {
    const answer = await fetch(path, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    });
    if (answer.status === 401) {
      window.location.assign("login");
      throw new Error("log in first");
    }
    if (!answer.ok) throw new Error(`${path}: HTTP ${answer.status}`);
    return answer.json();
  }

  function showSync(sync) {
    el("hold-all").hidden = !sync.hold_all;
    const stale = sync.accounts.filter((account) => account.stale);
    const banner = el("stale");
    banner.hidden = stale.length === 0;
    if (stale.length) {
      const names = stale.map((account) =>
        account.seconds_since === null
          ? `${account.account} (${texts.never_synced})`
          : account.account
      );
      const ages = stale.filter((account) => account.seconds_since !== null);
      const oldest = ages.length ? Math.max(...ages.map((a) => a.seconds_since)) : null;
      banner.textContent = fill(texts.stale, {
        accounts: names.join(", "),
        age: oldest === null ? "-" : spanText(oldest),
        interval: spanText(sync.poll_interval),
      });
    }
  }

  async function refresh() {
    try {
      const [postings, sync] = await Promise.all([getJSON("api/postings"), getJSON("api/sync")]);
      items = postings;
      receivedAt = performance.now();
      lastGood = new Date();
      el("unreachable").hidden = true;
      showSync(sync);
      render();
      el("updated").textContent = fill(texts.updated, {
        time: clockText(lastGood.toISOString()),
        zone: settings.zone,
      });
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes); // tests wait for the next one
    } catch (err) {
      const banner = el("unreachable");
      banner.hidden = false;
      banner.textContent = fill(texts.unreachable, {
        time: lastGood ? clockText(lastGood.toISOString()) : "-",
      });
    }
  }

  function say(text, kind) {
    const message = el("message");
    message.textContent = text;
    message.className = `banner ${kind}`;
    message.hidden = false;
  }

  async function act(action, number) {
    let body = {};
    if (action === "ack") {
      const name = nameInput ? nameInput.value.trim() : "";
      if (!name) {
        say(texts.need_name, "warn");
        if (nameInput) nameInput.focus();
        return;
      }
      body = { by: name };
      try {
        window.localStorage.setItem(NAME_KEY, name);
      } catch (err) {
        // no localStorage: the name stays in the field for this visit
      }
    } else if (action === "hold" && holdFor && holdFor.value) {
      body = { for: holdFor.value };
    }
    let answer;
    let data = {};
    try {
      answer = await fetch(`api/postings/${encodeURIComponent(number)}/${action}`, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRF-Token": settings.csrf || "",
        },
        body: JSON.stringify(body),
      });
      data = await answer.json();
    } catch (err) {
      say(fill(texts.refused, { error: String(err.message || err) }), "alarm");
      return;
    }
    if (!answer.ok) {
      say(fill(texts.refused, { error: data.error || `HTTP ${answer.status}` }), "alarm");
      return;
    }
    const elapsed = (performance.now() - receivedAt) / 1000;
    data.seconds_left += elapsed; // keep every countdown on the same base
    items = items.map((item) =>
      item.posting_number === data.posting_number && item.account === data.account ? data : item
    );
    render();
    const done = { ack: texts.done_ack, hold: texts.done_hold, release: texts.done_release };
    say(fill(done[action], { number, name: data.acknowledged_by || "" }), "info");
  }

  // -- wiring ----------------------------------------------------------------------------------

  list.addEventListener("click", (event) => {
    const target = event.target.closest("button[data-act]");
    if (target) act(target.dataset.act, target.dataset.number);
  });
  const filters = savedFilters();
  setOptions(accountFilter, filters.account ? [filters.account] : [], filters.account);
  setOptions(warehouseFilter, filters.warehouse ? [filters.warehouse] : [], filters.warehouse);
  for (const select of [accountFilter, warehouseFilter]) {
    select.addEventListener("change", () => {
      rememberFilters();
      render();
    });
  }
  try {
    if (nameInput) {
      nameInput.value = window.localStorage.getItem(NAME_KEY) || "";
      nameInput.addEventListener("change", () =>
        window.localStorage.setItem(NAME_KEY, nameInput.value.trim())
      );
    }
    if (holdFor) {
      const stored = window.localStorage.getItem(HOLD_KEY);
      if (stored !== null && Array.from(holdFor.options).some((o) => o.value === stored)) {
        holdFor.value = stored;
      }
      holdFor.addEventListener("change", () => window.localStorage.setItem(HOLD_KEY, holdFor.value));
    }
  } catch (err) {
    // no localStorage (private mode): the name is typed once per visit
  }
  refresh();
  window.setInterval(refresh, settings.refresh_seconds * 1000);
  window.setInterval(tick, 1000);
})();
