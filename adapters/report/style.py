"""The report page's style sheet, inlined in the page: the file must open anywhere,
offline, and load nothing (no fonts, no scripts, no images from elsewhere)."""

# Colours always come with words beside them (a count, a label, a legend), so the
# page reads the same without them: in print, for colour-blind readers, on e-ink.
CSS = """
:root { --ink: #1d2329; --muted: #5b6670; --line: #d5dbe0; --paper: #ffffff;
        --panel: #f4f6f8; --good: #1f7a3a; --bad: #b3261e; --wait: #a15c00;
        --none: #6b7580; --accent: #1f5fa8; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: var(--paper);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
header.page { border-bottom: 2px solid var(--line); margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: .2rem 0 .4rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; overflow-wrap: anywhere; }
p, dl { margin: .4rem 0; }
.meta { color: var(--muted); font-size: .9rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr));
         gap: .6rem; margin: 1rem 0; padding: 0; list-style: none; }
.cards li { background: var(--panel); border-left: 4px solid var(--line);
            padding: .5rem .7rem; border-radius: 4px; }
.cards .value { display: block; font-size: 1.5rem; font-weight: 600; }
.cards .label { color: var(--muted); font-size: .85rem; }
.good { border-color: var(--good) !important; }
.bad { border-color: var(--bad) !important; }
.wait { border-color: var(--wait) !important; }
.none { border-color: var(--none) !important; }
.verdict { padding: .6rem .8rem; border-radius: 4px; border-left: 4px solid;
           background: var(--panel); }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: .4rem 0 1rem; }
.scroll:focus { outline: 2px solid var(--accent); }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; caption-side: top; }
th, td { padding: .35rem .55rem; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
thead th { background: var(--panel); white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bar { width: 30%; min-width: 6rem; }
th.when { white-space: nowrap; font-weight: normal; }
td.bar svg { display: block; width: 100%; height: .9rem; }
.level-1 { padding-left: 1.4rem; }
.level-2 { padding-left: 2.6rem; }
.tag { display: inline-block; font-size: .8rem; padding: 0 .4rem; border-radius: 3px;
       border: 1px solid currentColor; white-space: nowrap; }
.tag.bad { color: var(--bad); }
.tag.good { color: var(--good); }
.tag.wait { color: var(--wait); }
.tag.none { color: var(--none); }
figure { margin: .6rem 0 1rem; }
figure svg { width: 100%; height: auto; max-height: 16rem; display: block; }
figcaption { color: var(--muted); font-size: .85rem; }
.legend { list-style: none; padding: 0; margin: .3rem 0; display: flex; gap: 1rem;
          flex-wrap: wrap; font-size: .9rem; }
.swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .3rem;
          vertical-align: -2px; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
              font-size: .85em; overflow-wrap: anywhere; }
form.search { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end;
              background: var(--panel); padding: .7rem; border-radius: 4px; }
form.search label { display: flex; flex-direction: column; font-size: .85rem; }
form.search input { font: inherit; padding: .3rem .4rem; min-width: 14rem; max-width: 100%; }
form.search button { font: inherit; padding: .35rem .9rem; }
.notice { border-left: 4px solid var(--wait); background: var(--panel); padding: .5rem .8rem; }
section.timeline { border-top: 1px solid var(--line); }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
@media (max-width: 40rem) {
  body { font-size: 14px; }
  main { padding: .6rem; }
  td.bar, th.bar { display: none; }
}
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  form.search, .skip { display: none; }
  .scroll { overflow: visible; }
  table, figure, .cards li { break-inside: avoid; }
  thead { display: table-header-group; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  .cards li, thead th, .verdict { background: none; }
}
"""
