// The 群众评议 ballot on the evaluator's device: a Streamlit component (st.components.v2).
//
// The server sends the form once (`data`); every tap is drawn here and kept in the browser's
// localStorage under the code, and nothing goes to the server until 提交, when the whole
// ballot is sent as one trigger ("submit"). A reload, a closed tab, a dead battery or a
// restarted server lose nothing on this device; another device starts afresh.
//
// data.mode:
//   "ballot": draw the form of data.code; data.result answers the last submit, if any.
//   "used":   the code is already used. If this device has a ballot for it, send it again
//             with this device's token: the server says whether it was this device's ballot
//             (the reply had been lost) and the page thanks or refuses.
//   "clear":  the code's ballot is in, or the code can no longer vote: forget it here.
//
// data.form: the group's form. kind "itemized" (分项: every criterion of the card's category) or
// "overall" (总体: one item a card, criterion 0, with the category's criteria as `weigh`);
// levels [id, label, scored]: the scored ones are 本张全部选's buttons, the one unscored level
// (不了解), if offered, is what 不了解此人 sets; `comments` says whether cards have a comment box.
//
// Names and criteria come from the roster: they are only ever set as textContent.

const STORE = "pingyi.ballot.v1.";
const HEALTH_EVERY_MS = 10000; // while all is well
const HEALTH_RETRY_MS = 2000; // while the server does not answer
const HEALTH_TIMEOUT_MS = 4000;
const RESEND_AFTER_MS = 6000; // a submit with no answer from the server is sent again
// Sends that went unanswered while the server answered its health check: Streamlit's own
// connection is not coming back, so the page is loaded again (the answers are in storage,
// and the reloaded page sends them, or learns that they are in).
const RELOAD_AFTER_SENDS = 4;

// ---- storage: one record per code

function storageKey(code) {
  return STORE + code;
}

function readRecord(code) {
  try {
    const raw = window.localStorage.getItem(storageKey(code));
    return raw ? JSON.parse(raw) : null;
  } catch (e) {
    return null;
  }
}

// False when the browser keeps nothing (private mode, storage full): the page says so.
function writeRecord(code, record) {
  try {
    window.localStorage.setItem(storageKey(code), JSON.stringify(record));
    return true;
  } catch (e) {
    return false;
  }
}

function forgetRecord(code) {
  try {
    window.localStorage.removeItem(storageKey(code));
  } catch (e) {
    /* nothing kept, nothing to forget */
  }
}

function newToken() {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- small DOM helpers (text only, never HTML from data)

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.appendChild(child);
  return node;
}

function healthUrl() {
  // The app may be served under a path prefix: the health check sits beside the page.
  return new URL("_stcore/health", document.baseURI).toString();
}

// Streamlit shows a modal "Connection error" dialog while its server does not answer, and a
// modal makes the rest of the page inert: the evaluator could not tap. This page says itself
// that the server is away and keeps taking taps, so that dialog is closed when it shows.
function closeConnectionDialog() {
  for (const dialog of document.querySelectorAll('[role="dialog"]')) {
    const title = dialog.querySelector("h2");
    if (title && title.textContent.trim() === "Connection error") {
      const close = dialog.querySelector('button[aria-label="Close"]');
      if (close) close.click();
    }
  }
}

// ---- the ballot

class Ballot {
  constructor(parent, setTriggerValue) {
    this.send = setTriggerValue;
    this.root = el("div", { class: "pingyi-ballot" });
    parent.appendChild(this.root);
    this.code = null;
    this.mode = null;
    this.offline = false;
    this.healthTimer = null;
    this.resendTimer = null;
    this.lastResult = null;
    // Streamlit's dialogs are added to the body: a "Connection error" is closed at once, and
    // any change there is a hint to look at the server again without waiting for the poll.
    this.dialogWatch = new MutationObserver(() => {
      closeConnectionDialog();
      const quiet = Date.now() - (this.checkedAt || 0) > HEALTH_RETRY_MS;
      if (this.mode === "ballot" && !this.offline && quiet) this.checkHealth();
    });
    this.dialogWatch.observe(document.body, { childList: true });
  }

  destroy() {
    clearTimeout(this.healthTimer);
    clearTimeout(this.resendTimer);
    this.dialogWatch.disconnect();
  }

  update(data) {
    const mode = data.mode;
    if (mode === "clear") {
      forgetRecord(data.code);
      this.stop();
      this.root.replaceChildren();
      return;
    }
    if (mode === "used") {
      this.checkUsed(data.code);
      return;
    }
    if (this.mode !== "ballot" || this.code !== data.code || this.formKey !== formKey(data)) {
      this.open(data);
    }
    if (data.result && data.result.n !== this.lastResult) {
      this.lastResult = data.result.n;
      this.answered(data.result);
    }
  }

  stop() {
    clearTimeout(this.healthTimer);
    clearTimeout(this.resendTimer);
    this.mode = null;
    this.code = null;
  }

  // A used code: send this device's ballot again, if it has one, so the server can say
  // whether it was this device's (the reply to its submit was lost).
  checkUsed(code) {
    this.stop();
    this.root.replaceChildren();
    const record = readRecord(code);
    if (!record || !record.token) return;
    this.root.appendChild(el("p", { class: "checking", text: "正在核对本设备上保存的评议…" }));
    this.send("submit", this.payload(code, record, record.sid || newToken()));
  }

  // ---- opening

  open(data) {
    this.stop();
    this.mode = "ballot";
    this.code = data.code;
    this.form = data.form;
    this.formKey = formKey(data);
    this.perPage = data.form.perPage;
    this.items = new Map(); // "t:c" → true, every item of the form
    for (const card of this.form.cards)
      for (const [cid] of card.criteria) this.items.set(`${card.id}:${cid}`, true);
    this.levelIds = new Set(this.form.levels.map(([id]) => id));
    this.scored = this.form.levels.filter((level) => level[2] !== false);
    const unknown = this.form.levels.find((level) => level[2] === false);
    this.unknown = unknown ? unknown[0] : null;
    this.record = this.loadRecord();
    this.saved = writeRecord(this.code, this.record);
    this.page = this.startPage();
    this.build();
    this.drawPage(false);
    this.drawProgress();
    this.drawSubmit();
    this.checkHealth();
    if (this.record.pending) this.resend();
  }

  // The record of this code on this device, with what no longer fits the form dropped.
  loadRecord() {
    const stored = readRecord(this.code) || {};
    const record = {
      token: /^[0-9a-f]{32}$/.test(stored.token) ? stored.token : newToken(),
      answers: {},
      comments: {},
      before: {}, // card → its answers before 不了解此人, for 撤销
      pending: stored.pending === true,
      sid: typeof stored.sid === "string" ? stored.sid : null,
      page: Number.isInteger(stored.page) ? stored.page : null,
    };
    for (const [item, level] of Object.entries(stored.answers || {}))
      if (this.items.has(item) && this.levelIds.has(level)) record.answers[item] = level;
    const cards = new Set(this.form.cards.map((card) => String(card.id)));
    if (this.form.comments !== false)
      for (const [target, text] of Object.entries(stored.comments || {}))
        if (cards.has(target) && typeof text === "string" && text.trim())
          record.comments[target] = text.slice(0, this.form.commentMax);
    for (const [target, earlier] of Object.entries(stored.before || {})) {
      if (!cards.has(target) || typeof earlier !== "object" || earlier === null) continue;
      record.before[target] = {};
      for (const [item, level] of Object.entries(earlier))
        if (this.items.has(item) && this.levelIds.has(level)) record.before[target][item] = level;
    }
    return record;
  }

  store() {
    this.saved = writeRecord(this.code, this.record);
  }

  pageCount() {
    return Math.max(1, Math.ceil(this.form.cards.length / this.perPage));
  }

  pageOf(targetId) {
    const index = this.form.cards.findIndex((card) => card.id === targetId);
    return index < 0 ? 0 : Math.floor(index / this.perPage);
  }

  // Where the evaluator left off: the page last shown, else that of the first card not done.
  startPage() {
    const last = this.record.page;
    if (last !== null && last >= 0 && last < this.pageCount()) return last;
    const gap = this.missing()[0];
    return gap ? this.pageOf(gap.id) : 0;
  }

  leftOn(card) {
    let left = 0;
    for (const [cid] of card.criteria) if (!(`${card.id}:${cid}` in this.record.answers)) left++;
    return left;
  }

  missing() {
    return this.form.cards.filter((card) => this.leftOn(card) > 0);
  }

  // 已评 / 不了解 (every item 不了解) / 未完成, for the 核对 list.
  stateOf(card) {
    const left = this.leftOn(card);
    if (left) return { kind: "open", text: `未完成(还有 ${left} 项)` };
    const all = card.criteria.every(([cid]) => this.record.answers[`${card.id}:${cid}`] === this.unknown);
    return all && this.unknown !== null ? { kind: "unknown", text: "不了解" } : { kind: "done", text: "已评" };
  }

  isOverall(card) {
    return this.form.kind === "overall" || card.criteria.length === 1;
  }

  // ---- drawing

  build() {
    this.root.replaceChildren();
    this.bar = el("div", { class: "bar", "data-testid": "ballot-progress" });
    this.net = el("div", { class: "net", role: "status", hidden: "" });
    this.local = el("div", { class: "warn", hidden: "" });
    this.meter = el("div", { class: "meter" }, el("div", { class: "fill" }));
    this.count = el("div", { class: "count" });
    this.next = el("button", { type: "button", class: "link next" });
    this.toReview = el("button", { type: "button", class: "link to-review", text: "核对 ↓" });
    const links = el("div", { class: "links" }, this.next, this.toReview);
    this.bar.append(this.net, this.local, this.meter, this.count, links);
    this.cards = el("div", { class: "cards" });
    this.turner = el("nav", { class: "turner", "aria-label": "翻页" });
    this.back = el("button", { type: "button", class: "turn back", text: "‹ 上一页" });
    this.where = el("div", { class: "where" });
    this.forward = el("button", { type: "button", class: "turn forward", text: "下一页 ›" });
    this.turner.append(this.back, this.where, this.forward);
    this.submitBox = el("section", { class: "submit", id: "submit" });
    // 提交前核对: every card with its state, each a jump to the card.
    this.reviewHead = el("h3", { class: "review-head" });
    this.reviewList = el("ol", { class: "review" });
    this.reviewItems = new Map();
    for (const card of this.form.cards) {
      const state = el("span", { class: "state" });
      const button = el(
        "button",
        { type: "button", class: "link", "data-target": card.id },
        el("span", { class: "who", text: card.name }),
        state,
      );
      this.reviewItems.set(card.id, state);
      this.reviewList.appendChild(el("li", {}, button));
    }
    // What 提交 says goes under the button, so the button never moves under a second tap.
    this.submitBox.append(
      this.reviewHead,
      this.reviewList,
      el("h3", { text: "提交" }),
      el("div", { class: "count" }),
      el("button", { type: "button", class: "send", text: "提交评议" }),
      el("div", { class: "message", role: "alert" }),
      el("ul", { class: "missing" }),
      el("p", { class: "note", text: "提交后不能修改。评议匿名,不记录您的身份。" }),
    );
    this.root.append(this.bar, this.cards, this.turner, this.submitBox);

    this.listenForTaps();
    this.cards.addEventListener("input", (event) => this.typed(event));
    this.back.addEventListener("click", () => this.turnTo(this.page - 1));
    this.forward.addEventListener("click", () => this.turnTo(this.page + 1));
    this.next.addEventListener("click", () => this.jumpToNext());
    this.toReview.addEventListener("click", () => this.reviewHead.scrollIntoView({ block: "start" }));
    this.reviewList.addEventListener("click", (event) => {
      const target = event.target.closest("button[data-target]");
      if (target) this.jumpTo(Number(target.dataset.target));
    });
    this.submitBox.querySelector(".send").addEventListener("click", () => this.submit());
    this.submitBox.querySelector(".missing").addEventListener("click", (event) => {
      const target = event.target.closest("button[data-target]");
      if (target) this.jumpTo(Number(target.dataset.target));
    });
    if (!this.saved) {
      this.local.hidden = false;
      this.local.textContent = "本设备的浏览器不能保存答案(可能是无痕模式):请不要刷新或关闭本页,直到提交。";
    }
  }

  drawPage(scroll) {
    const first = this.page * this.perPage;
    const shown = this.form.cards.slice(first, first + this.perPage);
    const levels = this.form.levels;
    const nodes = shown.map((card, i) => this.drawCard(card, first + i + 1, levels));
    this.cards.replaceChildren(...nodes);
    const pages = this.pageCount();
    this.turner.hidden = pages === 1;
    this.back.disabled = this.page === 0;
    this.forward.disabled = this.page === pages - 1;
    this.forward.classList.toggle("primary", this.page < pages - 1);
    const last = Math.min(first + this.perPage, this.form.cards.length);
    this.where.replaceChildren(
      el("strong", { text: `第 ${this.page + 1}/${pages} 页` }),
      el("span", { text: `第 ${first + 1}–${last} 张` }),
    );
    if (this.record.page !== this.page) {
      this.record.page = this.page;
      this.store();
    }
    if (scroll && nodes.length) nodes[0].scrollIntoView({ block: "start" });
  }

  drawCard(card, number, levels) {
    const node = el("article", { class: "card", id: `card-${card.id}`, "data-target": card.id });
    const about = [card.about, card.category].filter(Boolean).join(" · ");
    node.append(
      el("h3", { text: card.name }),
      el("p", { class: "about", text: `第 ${number}/${this.form.cards.length} 张 · ${about}` }),
      el("p", { class: "left" }),
    );
    const overall = this.isOverall(card);
    if (!overall) node.append(this.drawShortcuts(card));
    card.criteria.forEach(([cid, name], index) => {
      const chosen = this.record.answers[`${card.id}:${cid}`];
      const scale = el("div", { class: "scale", role: "radiogroup" });
      scale.setAttribute("aria-label", name);
      for (const [lid, label] of levels) {
        const button = el("button", {
          type: "button",
          role: "radio",
          "aria-checked": String(chosen === lid),
          "data-item": `${card.id}:${cid}`,
          "data-level": lid,
          text: label,
        });
        scale.appendChild(button);
      }
      node.append(
        el(
          "div",
          { class: "item", "data-criterion": cid },
          el("div", { class: "label", text: overall ? name : `${index + 1}. ${name}` }),
          scale,
        ),
      );
    });
    if (card.weigh && card.weigh.length)
      node.append(el("p", { class: "weigh", text: `请综合考虑:${card.weigh.join("、")}` }));
    this.drawLeft(node, card);
    this.drawWhole(node, card);
    if (this.form.comments === false) return node;
    const note = el("textarea", {
      rows: "2",
      maxlength: String(this.form.commentMax),
      placeholder: "可不填;只作文字记录,匿名",
      "data-note": card.id,
    });
    note.value = this.record.comments[card.id] || "";
    note.readOnly = this.record.pending;
    node.append(el("label", { class: "note" }, el("span", { text: "意见建议(选填)" }), note));
    return node;
  }

  // 本张全部选「X」 for each scored level, and 不了解此人 (or 撤销不了解) when 不了解 is offered.
  drawShortcuts(card) {
    const row = el("div", { class: "shortcuts" }, el("span", { class: "hint", text: "本张全部选" }));
    for (const [lid, label] of this.scored)
      row.appendChild(el("button", { type: "button", class: "fill", "data-fill": lid, text: label }));
    if (this.unknown !== null)
      row.appendChild(el("button", { type: "button", class: "whole", "data-whole": card.id }));
    return row;
  }

  // 不了解此人, or 撤销不了解 while the card's earlier answers are kept for it. The same button
  // changes its text: a tap's click, which follows its pointerup, finds the button it has
  // already been taken by, not a new one that would undo it.
  drawWhole(node, card) {
    const whole = node.querySelector("button[data-whole]");
    if (!whole) return;
    const undo = card.id in this.record.before;
    whole.textContent = undo ? "撤销不了解" : "不了解此人";
    whole.classList.toggle("undo", undo);
  }

  // A card's choices, its line and its 不了解 button from the record, on the nodes drawn.
  paintCard(node, card) {
    for (const button of node.querySelectorAll("button[data-level]")) {
      const chosen = this.record.answers[button.dataset.item] === Number(button.dataset.level);
      button.setAttribute("aria-checked", String(chosen));
    }
    this.drawLeft(node, card);
    this.drawWhole(node, card);
  }

  drawLeft(node, card) {
    const left = this.leftOn(card);
    const line = node.querySelector(".left");
    line.classList.toggle("done", left === 0);
    line.textContent = left ? `还有 ${left} 项未选` : "✓ 本张已评完";
  }

  drawProgress() {
    const total = this.form.cards.length;
    const gaps = this.missing();
    const done = total - gaps.length;
    const chosen = Object.keys(this.record.answers).length;
    const text = `已完成 ${done}/${total} 张 · 已选 ${chosen}/${this.items.size} 项`;
    for (const line of this.root.querySelectorAll(".count")) line.textContent = text;
    this.drawReview();
    this.meter.firstChild.style.width = `${total ? (100 * done) / total : 100}%`;
    if (gaps.length) {
      const first = gaps[0];
      const page = this.pageOf(first.id);
      const where = page === this.page ? "" : `(第 ${page + 1} 页)`;
      this.next.textContent = `下一张未完成:${first.name}${where} ↓`;
      this.next.dataset.target = first.id;
      this.next.classList.remove("all-done");
    } else {
      this.next.textContent = "全部评完,请提交 ↓";
      delete this.next.dataset.target;
      this.next.classList.add("all-done");
    }
  }

  // The 核对 list: each card's state, and the counts above it. Only the text of the states
  // changes: a tap never rebuilds the list.
  drawReview() {
    const counts = { done: 0, unknown: 0, open: 0 };
    for (const card of this.form.cards) {
      const state = this.stateOf(card);
      counts[state.kind]++;
      const node = this.reviewItems.get(card.id);
      if (node.textContent !== state.text) {
        node.textContent = state.text;
        node.className = `state ${state.kind}`;
      }
    }
    this.reviewHead.textContent =
      `提交前核对:已评 ${counts.done} · 不了解 ${counts.unknown} · 未完成 ${counts.open}`;
  }

  // ---- taps, comments, pages

  // A finger's tap is taken at pointerup: the click that follows comes only after the
  // browser's tap gesture and its compatibility mouse events (tens of ms on a slow tablet).
  // A touch that turns into scrolling ends in pointercancel and chooses nothing. A mouse or
  // the keyboard chooses by click, as does a tap whose pointer events never came. The same
  // for a card's shortcuts, which is why a tap never replaces the button it was taken by.
  listenForTaps() {
    const tappable = (event) =>
      event.target.closest("button[data-level], button[data-fill], button[data-whole]");
    this.cards.addEventListener("pointerdown", (event) => {
      this.pressed = tappable(event);
      this.handled = null;
    });
    this.cards.addEventListener("pointercancel", () => {
      this.pressed = null;
    });
    this.cards.addEventListener("pointerup", (event) => {
      const button = tappable(event);
      if (event.pointerType !== "mouse" && button && button === this.pressed) {
        this.handled = button;
        this.take(button);
      }
      this.pressed = null;
    });
    this.cards.addEventListener("click", (event) => {
      const button = tappable(event);
      const taken = button && button === this.handled;
      this.handled = null;
      if (button && !taken) this.take(button);
    });
  }

  take(button) {
    if (this.record.pending) return;
    if ("level" in button.dataset) this.tapped(button);
    else this.shortcut(button);
  }

  tapped(button) {
    const item = button.dataset.item;
    const level = Number(button.dataset.level);
    for (const other of button.parentNode.children)
      other.setAttribute("aria-checked", String(other === button));
    this.record.answers[item] = level;
    const node = button.closest(".card");
    const card = this.cardOf(button);
    if (card.id in this.record.before) {
      // Changed by hand after 不了解此人: that is now the card's answer, nothing to undo.
      delete this.record.before[card.id];
      this.drawWhole(node, card);
    }
    this.drawLeft(node, card);
    this.drawProgress();
    this.clearMessage();
    this.store();
  }

  // 本张全部选「X」 and 不了解此人 / 撤销不了解: a whole card in one tap.
  shortcut(button) {
    const card = this.cardOf(button);
    if ("fill" in button.dataset) this.fillCard(card, Number(button.dataset.fill));
    else if (card.id in this.record.before) this.undoUnknown(card);
    else this.markUnknown(card);
    this.paintCard(button.closest(".card"), card);
    this.drawProgress();
    this.clearMessage();
    this.store();
  }

  // Only what is unanswered: a card made 不了解此人 has nothing so, and keeps its undo.
  fillCard(card, level) {
    let filled = false;
    for (const [cid] of card.criteria) {
      const item = `${card.id}:${cid}`;
      if (!(item in this.record.answers)) {
        this.record.answers[item] = level;
        filled = true;
      }
    }
    if (filled) delete this.record.before[card.id];
  }

  markUnknown(card) {
    const earlier = {};
    for (const [cid] of card.criteria) {
      const item = `${card.id}:${cid}`;
      if (item in this.record.answers) earlier[item] = this.record.answers[item];
      this.record.answers[item] = this.unknown;
    }
    this.record.before[card.id] = earlier;
  }

  undoUnknown(card) {
    const earlier = this.record.before[card.id] || {};
    for (const [cid] of card.criteria) {
      const item = `${card.id}:${cid}`;
      if (item in earlier) this.record.answers[item] = earlier[item];
      else delete this.record.answers[item];
    }
    delete this.record.before[card.id];
  }

  typed(event) {
    const note = event.target.closest("textarea[data-note]");
    if (!note) return;
    const text = note.value.slice(0, this.form.commentMax);
    if (text.trim()) this.record.comments[note.dataset.note] = text;
    else delete this.record.comments[note.dataset.note];
    this.store();
  }

  cardOf(node) {
    const id = Number(node.closest(".card").dataset.target);
    return this.form.cards.find((card) => card.id === id);
  }

  turnTo(page) {
    if (page < 0 || page >= this.pageCount() || page === this.page) return;
    this.page = page;
    this.drawPage(true);
    this.drawProgress();
  }

  jumpTo(targetId) {
    const page = this.pageOf(targetId);
    if (page !== this.page) {
      this.page = page;
      this.drawPage(false);
      this.drawProgress();
    }
    const card = this.root.querySelector(`#card-${targetId}`);
    if (card) card.scrollIntoView({ block: "start" });
  }

  jumpToNext() {
    if (this.next.dataset.target) this.jumpTo(Number(this.next.dataset.target));
    else this.submitBox.scrollIntoView({ block: "start" });
  }

  // ---- submitting

  payload(code, record, sid) {
    const answers = Object.entries(record.answers || {}).map(([item, level]) => {
      const [target, criterion] = item.split(":").map(Number);
      return [target, criterion, level];
    });
    return { sid, code, token: record.token, answers, comments: record.comments || {} };
  }

  submit() {
    if (this.record.pending) {
      this.resend();
      return;
    }
    const gaps = this.missing();
    if (gaps.length) {
      this.showMissing(gaps, `还有 ${gaps.length} 张评议卡没有评完,请补全后再提交:`);
      return;
    }
    this.record.pending = true;
    this.record.sid = newToken();
    this.store();
    this.unanswered = 0;
    this.drawSubmit();
    this.resend();
  }

  // Send the pending ballot (again). The server stores it once, whatever the number of
  // sends: the code is claimed once, and a send after the ballot is in gets the receipt.
  resend() {
    clearTimeout(this.resendTimer);
    if (!this.record.pending) return;
    if (!this.offline) {
      this.unanswered = (this.unanswered || 0) + 1;
      if (this.unanswered > RELOAD_AFTER_SENDS) {
        window.location.reload();
        return;
      }
      this.send("submit", this.payload(this.code, this.record, this.record.sid));
    }
    this.resendTimer = setTimeout(() => {
      this.drawSubmit(true);
      this.resend();
    }, RESEND_AFTER_MS);
  }

  // The server's answer to a submit that did not store the ballot (stored: the page moves on).
  answered(result) {
    if (result.sid !== this.record.sid) return;
    this.unanswered = 0;
    if (result.kind === "busy") {
      this.showMessage(result.message, "busy");
      return; // still pending: sent again shortly
    }
    clearTimeout(this.resendTimer);
    this.record.pending = false;
    this.store();
    this.drawSubmit();
    const missing = (result.missing || [])
      .map((id) => this.form.cards.find((card) => card.id === id))
      .filter(Boolean);
    if (missing.length) this.showMissing(missing, result.message);
    else this.showMessage(result.message, "error");
  }

  drawSubmit(late) {
    const button = this.submitBox.querySelector(".send");
    const pending = this.record.pending;
    this.root.classList.toggle("pending", pending);
    // What is being submitted can no longer change.
    for (const note of this.cards.querySelectorAll("textarea")) note.readOnly = pending;
    button.textContent = pending ? "正在提交…" : "提交评议";
    button.setAttribute("aria-busy", String(pending));
    if (!pending) return;
    this.submitBox.querySelector(".missing").replaceChildren();
    if (this.offline)
      this.showMessage("暂时连不上服务器。您的评议已保存在本设备上,连上后会自动提交,请不要关闭本页。", "busy");
    else if (late) this.showMessage("提交还没有得到服务器确认,正在重试…", "busy");
    else this.showMessage("正在提交,请稍候…", "info");
  }

  showMessage(text, kind) {
    const box = this.submitBox.querySelector(".message");
    box.textContent = text || "";
    box.className = `message ${kind || ""}`;
  }

  clearMessage() {
    const box = this.submitBox.querySelector(".message");
    if (box.classList.contains("error")) this.showMessage("", "");
    this.submitBox.querySelector(".missing").replaceChildren();
  }

  showMissing(cards, text) {
    this.showMessage(text, "error");
    const list = this.submitBox.querySelector(".missing");
    list.replaceChildren(
      ...cards.map((card) => {
        const page = this.pageOf(card.id);
        const where = page === this.page ? "" : `(第 ${page + 1} 页)`;
        return el(
          "li",
          {},
          el("button", {
            type: "button",
            class: "link",
            "data-target": card.id,
            text: `${card.name}${where}`,
          }),
        );
      }),
    );
  }

  // ---- reaching the server

  async checkHealth() {
    clearTimeout(this.healthTimer);
    if (this.mode !== "ballot") return;
    this.checkedAt = Date.now();
    let ok = false;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), HEALTH_TIMEOUT_MS);
    try {
      const response = await fetch(healthUrl(), { cache: "no-store", signal: abort.signal });
      ok = response.ok;
    } catch (e) {
      ok = false;
    }
    clearTimeout(timer);
    if (this.mode !== "ballot") return;
    this.setOffline(!ok);
    this.healthTimer = setTimeout(
      () => this.checkHealth(),
      ok ? HEALTH_EVERY_MS : HEALTH_RETRY_MS,
    );
  }

  setOffline(offline) {
    const back = this.offline && !offline;
    this.offline = offline;
    this.net.hidden = !offline;
    this.net.textContent = offline
      ? "暂时连不上服务器。您的选择都保存在本设备上,可以继续评议;连上后即可提交。"
      : "";
    if (offline) closeConnectionDialog();
    if (this.record.pending) this.drawSubmit();
    // Streamlit reconnects its own socket on its own; give it a moment before sending.
    if (back && this.record.pending) setTimeout(() => this.resend(), 1500);
  }
}

function formKey(data) {
  return `${data.form.round}:${data.form.group}:${data.form.cards.length}`;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let ballot = parentElement.__pingyiBallot;
  if (!ballot) {
    ballot = new Ballot(parentElement, setTriggerValue);
    parentElement.__pingyiBallot = ballot;
  }
  ballot.send = setTriggerValue;
  ballot.update(data || {});
  return () => {
    ballot.destroy();
    delete parentElement.__pingyiBallot;
  };
}
