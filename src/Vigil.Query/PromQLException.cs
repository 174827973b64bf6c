namespace Vigil.Query;

/// <summary>A query Vigil refuses: bad syntax, or PromQL outside the supported subset. The message names the construct.</summary>
public sealed class PromQLException(string message) : Exception(message);
