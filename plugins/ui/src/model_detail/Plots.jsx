// The evaluation plots recorded with one version, chosen from a select.
import { Box, Grid, Image, Stack, Text } from "@chakra-ui/react";
import { useState } from "react";

import { apiUrl } from "../api.js";
import { SelectField, versionOptions } from "../common.jsx";
import { Empty } from "./tables.jsx";

export const Plots = ({ modelName, versions }) => {
  const withPlots = versions.filter((v) => (v.plots ?? []).length);
  const [version, setVersion] = useState(String((withPlots[0] ?? versions[0])?.version ?? ""));
  const current = versions.find((v) => String(v.version) === version);
  return (
    <Stack gap={3}>
      <SelectField
        label="Version"
        onChange={setVersion}
        options={versionOptions(versions)}
        orientation="horizontal"
        testId="plots-version"
        value={version}
        w="20rem"
      />
      {(current?.plots ?? []).length ? (
        <Grid gap={4} templateColumns="repeat(auto-fill, minmax(280px, 1fr))">
          {current.plots.map((plot) => (
            <Box
              as="figure"
              borderColor="border"
              borderRadius="md"
              borderWidth="1px"
              data-plot={plot.name}
              data-testid="plot"
              key={plot.name}
              p={2}
            >
              <Image
                alt={plot.title ?? plot.name}
                borderRadius="sm"
                aspectRatio="5 / 4"
                loading="lazy"
                objectFit="contain"
                src={apiUrl(["models", modelName, "versions", current.version, "plots", `${plot.name}.png`])}
                w="100%"
              />
              <Text as="figcaption" color="fg.muted" fontSize="xs" mt={1} textAlign="center">
                {plot.title ?? plot.name}
              </Text>
            </Box>
          ))}
        </Grid>
      ) : (
        <Empty testId="plots-empty">No evaluation plots were recorded for v{version}.</Empty>
      )}
    </Stack>
  );
};
