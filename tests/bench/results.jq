# SPDX-License-Identifier: Apache-2.0
# Assembles results.json from the sections' files and lists every target of
# issue 7 with the measured value. A section that did not run is null and
# its targets are n/a.
def t($name; $value; $op; $target; $unit):
  {name: $name, value: $value, op: $op, target: $target, unit: $unit,
   met: (if $value == null then null
         elif $op == "<=" then $value <= $target else $value >= $target end)};
def peers($n): ($scrape // []) | map(select(.peers == $n)) | first;

{schema_version: 1, generated: $date, duration_seconds: $seconds,
 host: {kernel: $kernel, cpus: $cpus, revision: $rev},
 xdp: $xdp, flood: $flood, scrape: $scrape, node_exporter: $node_exporter, idle: $idle,
 crowdsec: $crowdsec}
| .targets = (
    ((($xdp // {}).cases // {}) | to_entries | map(select(.value.target_ratio != null or .value.ratio == null))
     | map(select(.key != "floor" and (.key | endswith("_tailcall") | not)))
     | map(t("xdp \(.key) / floor"; .value.ratio; "<=";
             (.value.target_ratio // (if (.key | test("new_peer")) then 30 else 6 end)); "x floor")))
    + ((($crowdsec // {}).cases // {}) | to_entries | map(select(.value.target_ratio != null))
       | map(t("crowdsec \(.key) / floor (\($crowdsec.decisions) decisions)"; .value.ratio; "<=";
               .value.target_ratio; "x floor")))
    + ((($flood // {}).comparisons // []) | map(select(.info | not)) | map(t(.name; .value; .op; .target; "x")))
    + ([65536, 1000000] | map(. as $n | (if $n == 65536 then 50 else 1500 end) as $lim
        | ["text", "text_gzip", "openmetrics", "openmetrics_gzip"]
        | map(t("scrape \($n) peers, \(.), median"; peers($n).variants[.].ms_median; "<="; $lim; "ms")))
       | flatten)
    + [t("scrape us/peer at 1,000,000 / at 10,000 (flat)";
         (if peers(1000000) and peers(10000) then peers(1000000).us_per_peer_text / peers(10000).us_per_peer_text else null end);
         "<="; 1.5; "x"),
       t("RSS with 65,536 peers (VmRSS after scrapes)";
         (if peers(65536) then peers(65536).rss_kb / 1024 else null end); "<="; 25; "MB"),
       t("synwatch idle RSS / node_exporter idle RSS";
         (if $node_exporter and ($idle or peers(1000)) then
            (($idle.rss_kb // peers(1000).rss_kb_before_fill) / $node_exporter.rss_kb_idle) else null end);
         "<="; 0.5; "x"),
       t("idle CPU over \(($idle // {}).seconds // 60) s"; ($idle // {}).cpu_ms; "<="; 5; "ms")])
