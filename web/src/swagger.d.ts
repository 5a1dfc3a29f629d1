declare module "swagger-ui-dist/swagger-ui-es-bundle.js" {
  const SwaggerUI: (opts: object) => unknown;
  export default SwaggerUI;
}
