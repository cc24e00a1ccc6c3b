// Asks PostgreSQL to analyse a statement without running it: Parse + Describe(statement) + Sync on
// the unnamed statement. The server answers with ParameterDescription (the parameters' types)
// and RowDescription (each output column's type and, when it comes from a table or view column,
// that relation's oid and attribute number) or NoData. Nothing executes, so statements with
// side effects, row locks or NOT NULL constraints need no transaction and no parameter values.
import type pg from "pg";

export interface DescribedColumn {
  readonly name: string;
  readonly typeOid: number;
  /** Relation the column comes from (pg_class oid), 0 for an expression. */
  readonly tableOid: number;
  /** Attribute number in that relation, 0 for an expression. */
  readonly columnNumber: number;
}

export interface Description {
  readonly parameterTypeOids: number[];
  /** Empty when the statement returns no rows. */
  readonly columns: DescribedColumn[];
}

interface ProtocolConnection {
  parse(msg: { name: string; text: string; types: number[] }): void;
  describe(msg: { type: "S" | "P"; name: string }): void;
  sync(): void;
  on(event: string, listener: (msg: unknown) => void): void;
  removeListener(event: string, listener: (msg: unknown) => void): void;
}

interface RowDescriptionMessage {
  fields: { name: string; tableID: number; columnID: number; dataTypeID: number }[];
}

/** A pg "submittable": the client hands it the connection and forwards the replies. */
class DescribeSubmittable {
  readonly text: string;
  readonly done: Promise<Description>;
  private resolve!: (d: Description) => void;
  private reject!: (e: Error) => void;
  private parameterTypeOids: number[] = [];
  private columns: DescribedColumn[] = [];
  private error: Error | null = null;
  private connection: ProtocolConnection | null = null;
  private readonly onParameterDescription = (msg: unknown) => {
    this.parameterTypeOids = [...(msg as { dataTypeIDs: number[] }).dataTypeIDs];
  };

  constructor(text: string) {
    this.text = text;
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: ProtocolConnection): void {
    this.connection = connection;
    // pg's Client does not forward ParameterDescription to queries; listen on the connection.
    connection.on("parameterDescription", this.onParameterDescription);
    connection.parse({ name: "", text: this.text, types: [] });
    connection.describe({ type: "S", name: "" });
    connection.sync();
  }

  handleRowDescription(msg: RowDescriptionMessage): void {
    this.columns = msg.fields.map((f) => ({
      name: f.name,
      typeOid: f.dataTypeID,
      tableOid: f.tableID,
      columnNumber: f.columnID,
    }));
  }

  handleError(error: Error): void {
    // After an ErrorResponse the client stops routing messages to us; ReadyForQuery still follows.
    this.error = error;
    this.finish();
  }

  handleReadyForQuery(): void {
    this.finish();
  }

  private finish(): void {
    this.connection?.removeListener("parameterDescription", this.onParameterDescription);
    this.connection = null;
    if (this.error) this.reject(this.error);
    else this.resolve({ parameterTypeOids: this.parameterTypeOids, columns: this.columns });
  }

  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
}

export async function describeStatement(client: pg.ClientBase, text: string): Promise<Description> {
  const submittable = new DescribeSubmittable(text);
  // biome-ignore lint/suspicious/noExplicitAny: pg's Submittable overload is untyped here.
  (client as any).query(submittable);
  return submittable.done;
}
