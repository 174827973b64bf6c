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

    /// <summary>Prometheus' errorType for a query that ran past its timeout (HTTP 503).</summary>
    public const string Timeout = "timeout";

    /// <summary><see cref="BadData"/>, <see cref="Execution"/> or <see cref="Timeout"/>.</summary>
    public string ErrorType { get; } = errorType;

    /// <summary>The HTTP status Prometheus answers an errorType with: 400 bad_data, 422 execution, 503 timeout.</summary>
    public static int StatusOf(string errorType) => errorType switch
    {
        Execution => 422,
        Timeout => 503,
        _ => 400,
    };
}
