using System.Text;
using FastProxy.Config;

namespace FastProxy.Runtime;

/// <summary>One part of a compiled template: literal bytes, or a variable with its argument as bytes.</summary>
internal readonly struct CompiledPart
{
    public CompiledPart(byte[] literal)
    {
        Literal = literal;
        Kind = VariableKind.Named;
    }

    public CompiledPart(VariableKind kind, byte[]? argument, MapRuntime? map)
    {
        Kind = kind;
        Argument = argument;
        Map = map;
    }

    /// <summary>Non-null for a literal part.</summary>
    public byte[]? Literal { get; }

    public VariableKind Kind { get; }

    /// <summary>
    /// The NAME of $http_NAME (lower case, '-' for '_'), $cookie_NAME, $arg_NAME; the digit of $1..$9; the name of a
    /// named capture (a <see cref="VariableKind.Named"/> part without a map).
    /// </summary>
    public byte[]? Argument { get; }

    /// <summary>The map a <see cref="VariableKind.Named"/> variable refers to; null for an unknown variable (empty).</summary>
    public MapRuntime? Map { get; }
}

/// <summary>
/// A <see cref="ValueTemplate"/> with its literals turned into bytes and its variables bound to the snapshot's maps,
/// ready for <see cref="Forwarding.VariableEvaluator"/>: evaluation is a switch per part writing into a span.
/// </summary>
internal sealed class CompiledTemplate
{
    public static CompiledTemplate Empty { get; } = new([], []);

    private CompiledTemplate(CompiledPart[] parts, byte[]? literal)
    {
        Parts = parts;
        Literal = literal;
    }

    public CompiledPart[] Parts { get; }

    /// <summary>The whole value when the template has no variable (most proxy_set_header values).</summary>
    public byte[]? Literal { get; }

    public static CompiledTemplate Compile(ValueTemplate template, IReadOnlyDictionary<string, MapRuntime> maps)
    {
        if (template.LiteralBytes is { } literal)
        {
            return new CompiledTemplate([new CompiledPart(literal)], literal);
        }
        var parts = new CompiledPart[template.Parts.Count];
        for (int i = 0; i < parts.Length; i++)
        {
            var part = template.Parts[i];
            if (part.IsLiteral)
            {
                parts[i] = new CompiledPart(Encoding.UTF8.GetBytes(part.Literal!));
                continue;
            }
            byte[]? argument = part.Variable switch
            {
                VariableKind.HttpHeader or VariableKind.CookieValue or VariableKind.ArgValue or VariableKind.RegexCapture
                    or VariableKind.HttpReferer or VariableKind.HttpUserAgent => Encoding.ASCII.GetBytes(part.Name ?? string.Empty),
                _ => null,
            };
            MapRuntime? map = null;
            if (part.Variable == VariableKind.Named && part.Name is not null && !maps.TryGetValue(part.Name, out map))
            {
                // Not a map: a named regex capture (nginx makes each "(?<name>...)" a variable).
                argument = Encoding.ASCII.GetBytes(part.Name);
            }
            parts[i] = new CompiledPart(part.Variable, argument, map);
        }
        return new CompiledTemplate(parts, null);
    }
}
