namespace Vigil.Query;

/// <summary>
/// A query Vigil refuses: bad syntax, PromQL outside the supported subset, a parameter out of range (the message names
/// the construct or parameter), or a valid query that could not be executed within its bounds.
/// </summary>
public sealed class PromQLException(string message, string errorType = PromQLException.BadData) : Exception(message)
{
    /// <summary>Prometheus' errorType for a request that is wrong as written (HTTP 400).</summary>
    public const string BadData = "bad_data";

    /// <summary>Prometheus' errorType for a valid query that failed while executing (HTTP 422), e.g. a regex timeout.</summary>
    public const string Execution = "execution";

    /// <summary><see cref="BadData"/> or <see cref="Execution"/>.</summary>
    public string ErrorType { get; } = errorType;
}
