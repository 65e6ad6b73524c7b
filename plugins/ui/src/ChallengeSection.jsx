// A model's challenge on its detail view (`GET models/<name>/challenge`): the active one with both
// versions' figures side by side, how often they agree and where they part ways, which one the
// labels favour, the gateway's counts and the rule's checks, with Promote and End challenge (op
// and admin); else the challenges before. It refreshes itself while a challenge is active.
import { Badge, Box, Button, Grid, HStack, Stack, Table, Text } from "@chakra-ui/react";
import { useEffect, useRef, useState } from "react";

import { useApi } from "./api.js";
import { ChallengeDecisionDialog } from "./ChallengeDialog.jsx";
import { ErrorAlert, Loading, Muted, Section, StateBadge, Time } from "./common.jsx";
import { formatCount, formatMetric, formatMs, formatPercent } from "./format.js";
import { RefreshIcon } from "./icons.jsx";

const REFRESH_MS = 10_000;
const HISTORY_SHOWN = 5;
const STATUS_LOOK = { active: "running", promoted: "success", ended: "none" };

const known = (value) => value !== null && value !== undefined;
const orDash = (value, format) => (known(value) ? format(value) : "—");
const signed = (value) => `${value >= 0 ? "+" : ""}${formatMetric(value)}`;

const ChallengeBadge = ({ status }) => <StateBadge state={STATUS_LOOK[status] ?? null}>{status}</StateBadge>;

const Subsection = ({ title, children, testId }) => (
  <Stack data-testid={testId} gap={1.5}>
    <Text fontSize="sm" fontWeight="semibold">
      {title}
    </Text>
    {children}
  </Stack>
);

const SmallTable = ({ header, rows, testId }) => (
  <Table.ScrollArea borderColor="border" borderRadius="md" borderWidth="1px">
    <Table.Root data-testid={testId} size="sm">
      <Table.Header>
        <Table.Row>
          {header.map((cell, index) => (
            <Table.ColumnHeader key={index} textAlign={index ? "end" : "start"} whiteSpace="nowrap">
              {cell}
            </Table.ColumnHeader>
          ))}
        </Table.Row>
      </Table.Header>
      <Table.Body>
        {rows.map((cells, row) => (
          <Table.Row key={row}>
            {cells.map((cell, index) => (
              <Table.Cell fontVariantNumeric="tabular-nums" key={index} textAlign={index ? "end" : "start"}>
                {cell}
              </Table.Cell>
            ))}
          </Table.Row>
        ))}
      </Table.Body>
    </Table.Root>
  </Table.ScrollArea>
);

// "v3 challenges v2 · shadow 100% · started 2026-12-04 18:00 by admin1"
const Who = ({ challenge }) => (
  <HStack flexWrap="wrap" fontSize="sm" gap={2}>
    <ChallengeBadge status={challenge.status} />
    <Text data-testid="challenge-who">
      <b>
        v{challenge.challenger_version} challenges v{challenge.champion_version}
      </b>{" "}
      · {challenge.mode} {challenge.percent}%{challenge.sticky_header ? ` · sticky on ${challenge.sticky_header}` : ""} ·
      started <Time iso={challenge.started_at} /> by {challenge.started_by}
    </Text>
  </HStack>
);

// Champion and challenger side by side: what the log holds since the start, and the gateway's counts.
const Figures = ({ challenge, comparison, live }) => {
  const both = (pick) => [pick(comparison.champion), pick(comparison.challenger)];
  const gateway = (pick) => (live ? [pick(live.champion), pick(live.challenger)] : ["—", "—"]);
  const rows = [
    ["Requests (logged)", ...both((f) => formatCount(f.requests))],
    ["Error rate", ...both((f) => orDash(f.error_rate, formatPercent))],
    ["Latency p50", ...both((f) => orDash(f.p50_ms, formatMs))],
    ["Latency p99", ...both((f) => orDash(f.p99_ms, formatMs))],
    ["Requests (live, at the gateway)", ...gateway((v) => formatCount(v.requests))],
    ["Latency p99 (live)", ...gateway((v) => orDash(v.p99_ms, formatMs))],
  ];
  const header = ["", `Champion v${challenge.champion_version}`, `Challenger v${challenge.challenger_version}`];
  return <SmallTable header={header} rows={rows} testId="challenge-figures" />;
};

const agreementText = (c) => {
  const both = `${formatCount(c.paired_requests)} requests answered by both`;
  if (c.task === "classification") {
    return (
      `Same label on ${orDash(c.agreement, formatPercent)} of ${formatCount(c.paired_rows)} rows ` +
      `(${formatCount(c.disagreements)} differ), ${both}. Probability difference: mean ` +
      `${orDash(c.mean_probability_difference, formatMetric)}, max ${orDash(c.max_probability_difference, formatMetric)}.`
    );
  }
  return (
    `${both} (${formatCount(c.paired_rows)} rows). |Difference|: mean ${orDash(c.mean_absolute_difference, formatMetric)}, ` +
    `max ${orDash(c.max_absolute_difference, formatMetric)}; correlation ${orDash(c.correlation, formatMetric)}.`
  );
};

const Agreement = ({ comparison }) => (
  <Text data-paired={comparison.paired_rows} data-testid="challenge-agreement" fontSize="sm">
    {comparison.paired_rows
      ? agreementText(comparison)
      : "No request was answered by both versions yet: send some to the model's URL."}
  </Text>
);

const binRange = (bin) =>
  known(bin.value) ? bin.value : `${orDash(bin.low, formatMetric)} to ${orDash(bin.high, formatMetric)}`;

const WhereTheyDisagree = ({ comparison }) => {
  const bins = comparison.where_they_disagree ?? [];
  if (!bins.length) return <Muted>No feature range disagrees more than all the rows do.</Muted>;
  const classification = comparison.task === "classification";
  const rows = bins.map((bin) => [
    bin.feature,
    binRange(bin),
    formatCount(bin.rows),
    classification
      ? `${formatCount(bin.disagreements)} (${orDash(bin.share, formatPercent)})`
      : orDash(bin.mean_absolute_difference, formatMetric),
  ]);
  const header = ["Feature", "Range", "Rows", classification ? "Differ" : "Mean |difference|"];
  return <SmallTable header={header} rows={rows} testId="challenge-where" />;
};

const ByClass = ({ classes }) => {
  const labels = (counts) =>
    Object.entries(counts ?? {})
      .map(([label, n]) => `${label}: ${formatCount(n)}`)
      .join(" · ");
  const rows = classes.map((c) => [
    c.champion_label,
    formatCount(c.rows),
    `${formatCount(c.disagreements)} (${formatPercent(c.share)})`,
    labels(c.challenger_labels),
  ]);
  const header = ["Champion said", "Rows", "Challenger differs", "Challenger said"];
  return <SmallTable header={header} rows={rows} testId="challenge-by-class" />;
};

const FAVOURS = {
  challenger: { palette: "success", text: "favours the challenger" },
  champion: { palette: "warning", text: "favours the champion" },
};

// "accuracy: challenger 0.91 vs champion 0.84 on 412 labelled rows, +0.07 (95% interval +0.04..+0.10)"
const Labelled = ({ labelled, rule }) => {
  if (!labelled) {
    return (
      <Text color="fg.muted" data-testid="challenge-labelled" fontSize="sm">
        No labelled rows yet: once {formatCount(rule.min_labelled)} requests have labels, the rule compares which version
        is right more often.
      </Text>
    );
  }
  const [low, high] = labelled.interval ?? [];
  const interval = labelled.interval
    ? ` (${Math.round(rule.confidence * 100)}% interval ${signed(low)}..${signed(high)})`
    : "";
  const favours = FAVOURS[labelled.better];
  return (
    <Stack data-better={labelled.better ?? "neither"} data-testid="challenge-labelled" gap={1}>
      <HStack flexWrap="wrap" fontSize="sm" gap={2}>
        <Text>
          {labelled.metric}: challenger {formatMetric(labelled.challenger_value)} vs champion{" "}
          {formatMetric(labelled.champion_value)} on {formatCount(labelled.rows)} labelled rows,{" "}
          {signed(labelled.difference)}
          {interval}
        </Text>
        <Badge colorPalette={favours?.palette ?? "gray"} variant="surface">
          {favours?.text ?? "not clear of zero: neither is better yet"}
        </Badge>
      </HStack>
      <Muted>A positive difference favours the challenger{labelled.metric === "rmse" ? " (a lower rmse)" : ""}.</Muted>
    </Stack>
  );
};

const Gateway = ({ live, mode }) => {
  if (!live) return <Muted data-testid="challenge-gateway">The gateway did not answer: no live counts.</Muted>;
  const counts =
    mode === "canary"
      ? [["answered by the challenger", live.answered], ["failed over to the champion", live.failed_over]]
      : [["mirrored", live.mirrored], ["still to send", live.mirror_pending], ["dropped", live.mirror_dropped],
         ["failed", live.mirror_failed], ["answered with an error", live.mirror_errors]];
  return (
    <Text data-testid="challenge-gateway" fontSize="sm">
      {counts.map(([label, n]) => `${formatCount(n)} ${label}`).join(" · ")}
    </Text>
  );
};

// What the rule does by itself, in a line.
const ruleText = (rule, mode) => {
  const promotes = rule.auto_promote
    ? `It promotes the challenger by itself once it wins on at least ${formatCount(rule.min_labelled)} labelled requests`
    : "It never promotes by itself";
  const ends =
    mode === "canary" && rule.auto_rollback
      ? ` and ends the canary when its error rate passes the champion's by ${formatPercent(rule.max_error_rate_increase)} ` +
        `or its p99 reaches ${rule.max_p99_ratio} times the champion's`
      : "";
  return `${promotes}${ends}.`;
};

const Rule = ({ evaluation, rule, mode }) => (
  <Stack gap={1}>
    <Text data-testid="challenge-rule" fontSize="sm">
      {ruleText(rule, mode)}
    </Text>
    <Box as="ul" data-testid="challenge-checks" fontSize="sm" listStyleType="disc" ps={5}>
      {(evaluation.checks ?? []).map((check) => (
        <li key={check}>{check}</li>
      ))}
    </Box>
    {evaluation.decision ? (
      <Text data-action={evaluation.decision.action} data-testid="challenge-decision" fontSize="sm" fontWeight="semibold">
        The rule decides to {evaluation.decision.action}: {evaluation.decision.reason}
      </Text>
    ) : (
      <Muted data-testid="challenge-decision">No decision yet: both versions keep serving as they are.</Muted>
    )}
  </Stack>
);

const Evaluation = ({ challenge, evaluation, intervalS }) => {
  const { comparison, live } = evaluation;
  return (
    <Stack gap={4}>
      <Muted>
        Compared at <Time iso={evaluation.evaluated_at} seconds /> UTC; the rule judges every {intervalS} s.
      </Muted>
      <Grid gap={4} templateColumns="repeat(auto-fit, minmax(360px, 1fr))">
        <Figures challenge={challenge} comparison={comparison} live={live} />
        <Stack gap={3}>
          <Subsection title="Their answers">
            <Agreement comparison={comparison} />
          </Subsection>
          <Subsection title="Which is right, on labelled requests">
            <Labelled labelled={comparison.labelled} rule={challenge.rule} />
          </Subsection>
          <Subsection title="At the gateway">
            <Gateway live={live} mode={challenge.mode} />
          </Subsection>
        </Stack>
      </Grid>
      {comparison.paired_rows > 0 && (
        <Grid gap={4} templateColumns="repeat(auto-fill, minmax(360px, 1fr))">
          <Subsection title="Where they disagree most">
            <WhereTheyDisagree comparison={comparison} />
          </Subsection>
          {comparison.by_class?.length > 0 && (
            <Subsection title="Per class">
              <ByClass classes={comparison.by_class} />
            </Subsection>
          )}
        </Grid>
      )}
      <Subsection title="The rule">
        <Rule evaluation={evaluation} mode={challenge.mode} rule={challenge.rule} />
      </Subsection>
      {comparison.notes?.length > 0 && <Muted data-testid="challenge-notes">{comparison.notes.join("; ")}.</Muted>}
    </Stack>
  );
};

const Active = ({ challenge, evaluation, intervalS }) => (
  <Stack data-challenge={challenge.id} data-testid="challenge-active" gap={4}>
    <Who challenge={challenge} />
    {evaluation ? (
      <Evaluation challenge={challenge} evaluation={evaluation} intervalS={intervalS} />
    ) : (
      <Muted>Not compared yet.</Muted>
    )}
  </Stack>
);

const History = ({ history }) => {
  if (!history.length) {
    return (
      <Text color="fg.muted" data-testid="challenge-never" fontSize="sm">
        Never challenged: use Challenge with… in the Actions menu.
      </Text>
    );
  }
  return (
    <Stack data-testid="challenge-history" gap={2}>
      {history.slice(0, HISTORY_SHOWN).map((c) => (
        <Stack data-status={c.status} data-testid="challenge-history-row" gap={0.5} key={c.id}>
          <HStack flexWrap="wrap" fontSize="sm" gap={2}>
            <ChallengeBadge status={c.status} />
            <Text>
              <b>
                v{c.challenger_version} challenged v{c.champion_version}
              </b>{" "}
              · {c.mode} {c.percent}% · ended <Time iso={c.ended_at} />
              {c.ended_by ? ` by ${c.ended_by}` : ""}
            </Text>
          </HStack>
          {c.outcome && (
            <Text color="fg.muted" data-testid="challenge-outcome" fontSize="sm">
              {c.outcome}
            </Text>
          )}
        </Stack>
      ))}
    </Stack>
  );
};

const DecisionButtons = ({ onDecide }) => (
  <>
    <Button colorPalette="brand" data-testid="challenge-promote" onClick={() => onDecide("promote")} size="xs" variant="outline">
      Promote
    </Button>
    <Button colorPalette="danger" data-testid="challenge-end" onClick={() => onDecide("end")} size="xs" variant="outline">
      End challenge
    </Button>
  </>
);

// Reload every REFRESH_MS while a challenge is active, and whenever the page reloads the model
// (a challenge started from the Actions menu).
const useRefresh = (active, model, reload) => {
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [active, reload]);
  const first = useRef(model);
  useEffect(() => {
    if (model !== first.current) reload();
  }, [model, reload]);
};

// model: the page's ModelRow; onChanged: after a promotion or an end, for the rest of the page.
export const ChallengeSection = ({ model, canChange, onChanged }) => {
  const modelName = model.name;
  const challenge = useApi(["models", modelName, "challenge"]);
  const [decision, setDecision] = useState(null); // {kind: "promote" | "end", challenge}: kept once it ended
  const data = challenge.data;
  const active = data?.active ?? null;
  useRefresh(Boolean(active), model, challenge.reload);
  const actions = (
    <>
      <Button aria-label="Refresh the challenge" onClick={challenge.reload} size="xs" variant="ghost">
        <RefreshIcon />
      </Button>
      {canChange && active && <DecisionButtons onDecide={(kind) => setDecision({ kind, challenge: active })} />}
    </>
  );
  return (
    <Section actions={actions} testId="challenge-section" title="Challenge">
      {challenge.loading && !data && <Loading label="Loading the challenge…" />}
      {challenge.error && <ErrorAlert error={challenge.error} title="Cannot load the challenge" />}
      {data && active && <Active challenge={active} evaluation={data.evaluation} intervalS={data.interval_s} />}
      {data && !active && <History history={data.history ?? []} />}
      {decision && (
        <ChallengeDecisionDialog
          challenge={decision.challenge}
          decision={decision.kind}
          modelName={modelName}
          onChanged={() => {
            challenge.reload();
            onChanged?.();
          }}
          onClose={() => setDecision(null)}
        />
      )}
    </Section>
  );
};
