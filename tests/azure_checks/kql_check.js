// Kusto.Language (Microsoft's KQL parser and binder, npm @kusto/language-service-next) over queries given on stdin:
// {"bridgeDir": ..., "tables": {"name": {"column": "type"}}, "queries": {"name": "text"}}
// prints {"name": [{"severity", "code", "message", "start"}]}: every diagnostic ParseAndAnalyze reports.
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
require(input.bridgeDir + '/bridge.js');
require(input.bridgeDir + '/Kusto.Language.Bridge.js');
const K = global.Kusto.Language;
const S = K.Symbols;

const tables = Object.entries(input.tables).map(([name, columns]) => new S.TableSymbol.$ctor7(
  name, '(' + Object.entries(columns).map(([column, type]) => column + ':' + type).join(', ') + ')', null));
const globals = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.$ctor3('appinsights', null, tables, false));

const result = {};
for (const [name, text] of Object.entries(input.queries)) {
  const diagnostics = K.KustoCode.ParseAndAnalyze(text, globals).GetDiagnostics();
  result[name] = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    result[name].push({severity: d.Severity, code: d.Code, message: d.Message, start: d.Start});
  }
}
process.stdout.write(JSON.stringify(result));
