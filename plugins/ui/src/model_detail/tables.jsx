// The detail page's table frame, column headers and the text a section shows when it has nothing.
import { Table, Text } from "@chakra-ui/react";

export const Empty = ({ children, testId }) => (
  <Text color="fg.muted" data-testid={testId} fontSize="sm">
    {children}
  </Text>
);

export const ScrollTable = ({ children, testId, ...rest }) => (
  <Table.ScrollArea borderColor="border" borderRadius="md" borderWidth="1px">
    <Table.Root data-testid={testId} size="sm" striped {...rest}>
      {children}
    </Table.Root>
  </Table.ScrollArea>
);

export const ColumnHeaders = ({ cells }) => (
  <Table.Header>
    <Table.Row>
      {cells.map((cell, index) => (
        <Table.ColumnHeader key={index} whiteSpace="nowrap">
          {cell}
        </Table.ColumnHeader>
      ))}
    </Table.Row>
  </Table.Header>
);
