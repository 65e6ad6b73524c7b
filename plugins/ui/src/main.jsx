// Modelyard's Models page, a react_apps plugin page of the Airflow 3 UI. The host imports this
// bundle and mounts its default export at /plugin/models (All Models) and /plugin/models/<name>
// (one model), inside its own router and Chakra provider.
import { Box } from "@chakra-ui/react";
import { useLocation, useParams } from "react-router-dom";

import { ModelDetail } from "./model_detail/ModelDetail.jsx";
import { ModelsList } from "./ModelsList.jsx";

// The model's name: the part after /plugin/<page>/ (the host's route is `plugin/:page/*`).
const useModelName = () => {
  const params = useParams();
  const { pathname } = useLocation();
  let rest = params["*"];
  if (rest === undefined) {
    const match = pathname.match(/\/plugin\/[^/]+\/(.+)$/);
    rest = match ? decodeURIComponent(match[1]) : "";
  }
  rest = rest.replace(/\/+$/, "");
  return rest === "" ? null : rest;
};

const ModelsPage = () => {
  const name = useModelName();
  return (
    <Box data-testid="modelyard" h="100%" overflowY="auto" px={4} py={3}>
      {name === null ? <ModelsList /> : <ModelDetail key={name} name={name} />}
    </Box>
  );
};

export default ModelsPage;
