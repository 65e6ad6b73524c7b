// The model's history: who did what, to which version, with the details of each event.
import { Code, Table, Text } from "@chakra-ui/react";
import { useState } from "react";

import { Time } from "../common.jsx";
import { ColumnHeaders, Empty, ScrollTable } from "./tables.jsx";

const detailsText = (details) =>
  Object.entries(details ?? {})
    .map(([key, value]) => `${key}=${value === null ? "none" : typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" · ");

// Long details wrap inside the table and stop after three lines; a click shows them whole
// (and the tooltip has them too).
const EventDetails = ({ text }) => {
  const [open, setOpen] = useState(false);
  if (!text) return null;
  return (
    <Text
      aria-expanded={open}
      cursor="pointer"
      data-open={open}
      lineClamp={open ? undefined : 3}
      onClick={() => setOpen(!open)}
      overflowWrap="anywhere"
      title={open ? undefined : text}
      whiteSpace="pre-wrap"
    >
      {text}
    </Text>
  );
};

export const EventsTable = ({ events }) =>
  events.length ? (
    <ScrollTable testId="events-table">
      <ColumnHeaders cells={["When", "Who", "Action", "Version", "Details"]} />
      <Table.Body>
        {events.map((e, index) => (
          <Table.Row data-action={e.action} data-testid="event-row" key={`${e.created_at}-${index}`}>
            <Table.Cell>
              <Time fontSize="xs" iso={e.created_at} seconds />
            </Table.Cell>
            <Table.Cell>{e.actor ?? "—"}</Table.Cell>
            <Table.Cell>
              <Code size="sm">{e.action}</Code>
            </Table.Cell>
            <Table.Cell>{e.model_version !== null && e.model_version !== undefined ? `v${e.model_version}` : "—"}</Table.Cell>
            <Table.Cell color="fg.muted" data-testid="event-details" fontSize="xs" maxW="36rem" minW="14rem">
              <EventDetails text={detailsText(e.details)} />
            </Table.Cell>
          </Table.Row>
        ))}
      </Table.Body>
    </ScrollTable>
  ) : (
    <Empty testId="events-empty">No events yet.</Empty>
  );
